"""pytest configuration shared by the unit tests and nbval.

BLAS libraries read their thread count once, when NumPy is first imported, and
floating-point sums can differ in the last digit between thread counts. We pin
one thread here, before anything imports NumPy; nbval's notebook kernels are
child processes and inherit these variables, so notebook outputs are
reproducible on any machine.
"""
import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"
