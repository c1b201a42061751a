"""The course machinery of ScratchCNN: everything that is *not* the textbook.

``scratchcnn.py`` is the textbook a student reads. This package holds what runs the
course around it, and a student need not read it:

  cli.py          the command line, ``python scratchcnn.py train|evaluate|predict``
  plots.py        plots for the notebooks (numbers in boxes, live curves, feature maps)
  fast_layers.py  FastConv2D and FastMaxPool2D: the textbook's convolution and pooling,
                  made faster (what training runs; checked against the plain ones)
  widgets.py      the digit slider and the drawing pad of notebook 09
  digit_likeness.py  the pad's not-a-digit rule and the drawn non-digits it is measured on
  checks/         the exercise checks: framework.py, then one module per notebook
  file_safety.py  guards against damaged and hostile files (IDX, pictures, model files), atomic writes
  guards.py       guards for train and evaluate: arguments and data that would train nonsense
"""
