"""nbgrader configuration of a ScratchCNN course: copy this file into your course's root folder.

TEACHING.md ("Grading with nbgrader") shows the whole workflow. tools/make_student_copies.py
generates notebooks/student/ with this very file, and tests/test_nbgrader_round.py runs a grading
round with it, so the student copies are exactly what `nbgrader generate_assignment` releases here.
"""
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.converters import GenerateAssignment

c = get_config()  # noqa: F821 (nbgrader defines get_config when it reads this file)

c.CourseDirectory.course_id = "scratchcnn"

# A release keeps nothing of the solved run: nbgrader already clears outputs; also drop each cell's
# execution timestamps and the notebook's saved widget state (notebook 09 stores 240 kB of it).
c.ClearOutput.remove_metadata_fields = {"collapsed", "scrolled", "execution"}
nbgrader_steps = GenerateAssignment.class_traits()["preprocessors"].default()
c.GenerateAssignment.preprocessors = nbgrader_steps + [ClearMetadataPreprocessor]
c.ClearMetadataPreprocessor.enabled = True                  # autograde's own copy of it too: harmless
c.ClearMetadataPreprocessor.clear_cell_metadata = False     # keep nbgrader's metadata and the tags
c.ClearMetadataPreprocessor.preserve_nb_metadata_mask = {"kernelspec", "language_info"}

# Autograding runs every notebook top to bottom; notebook 07 trains a small CNN for a minute or two,
# several times that on a slow machine. nbgrader's default of 30 s per cell would cut it off.
c.Execute.timeout = 600   # seconds per cell
