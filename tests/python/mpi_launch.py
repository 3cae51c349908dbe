"""Shared by the tests that start programs under Open MPI's mpirun (test_mpi.py,
test_parallel_write.py): the environment that lets them run here and in CI."""
import os


def mpi_environment():
    env = dict(os.environ)
    if os.geteuid() == 0:  # CI runs as root; Open MPI refuses that unless told twice
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    # More ranks than this machine's cores (K = 3 on 2): no core binding, yield when idle.
    env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
    env["OMPI_MCA_mpi_yield_when_idle"] = "1"
    # Containers often forbid process_vm_readv (CMA) between processes; copy through shared memory.
    env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
    return env
