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

# Grading (TEACHING.md, "Grading with nbgrader"). nbgrader runs each notebook for the student's feedback,
# with its kernel in a bubblewrap sandbox; then GradeOutsideKernel grades every exercise again in a
# sandboxed worker, on cases drawn from the secret in grading_secret.txt (made in the course folder at
# first use), and writes those grades into the gradebook. Notebook 07's training run is cut short while
# grading (nbgrader sets NBGRADER_EXECUTION=autograde), so no cell needs more than a minute.
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute, LimitOutput, SaveAutoGrades  # noqa: E402

from course_machinery.grading.nbgrader_plugins import (  # noqa: E402
    CsvExportWithFlags, GradeOutsideKernel, OutputCap, SandboxedExecute)

steps = Autograde.class_traits()["autograde_preprocessors"].default()
steps[steps.index(Execute)] = SandboxedExecute
steps.insert(steps.index(LimitOutput) + 1, OutputCap)
steps.insert(steps.index(SaveAutoGrades) + 1, GradeOutsideKernel)
c.Autograde.autograde_preprocessors = steps
c.Execute.timeout = 60                      # seconds per cell (SandboxedExecute is an Execute)
c.Execute.interrupt_on_timeout = False      # a stuck cell ends the run; the grader grades every exercise anyway
c.OverwriteCells.add_missing_cells = True   # a deleted or stripped check cell comes back (and scores)
c.GradeOutsideKernel.secret_file = "grading_secret.txt"
c.ExportApp.plugin_class = CsvExportWithFlags

# `nbgrader zip_collect ASSIGNMENT` (TEACHING.md, step 4): the downloads go in
# downloaded/ASSIGNMENT/archive/, one folder or one zip per student, named by the student's id and
# holding the notebook under its own name (alice/04_max_pooling.ipynb, or bob.zip with
# 04_max_pooling.ipynb inside). nbgrader matches this expression against each extracted file's full path.
c.FileNameCollectorPlugin.named_regexp = r".*/(?P<student_id>[^/]+)/(?P<file_id>\d\d_\w+\.ipynb)$"
