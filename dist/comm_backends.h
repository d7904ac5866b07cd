#pragma once
// The communicators behind make_communicator (dist/comm.h); each throws when
// its library was not built in (the factory checks first).
#include <memory>

#include "dist/comm.h"

#ifndef SONO_WITH_MPI
#define SONO_WITH_MPI 0
#endif
#ifndef SONO_WITH_NCCL
#define SONO_WITH_NCCL 0
#endif

namespace sono::dist {

// MPI_Init_thread (funneled: only the training thread calls MPI) on first
// use, MPI_Finalize at exit; MPI_COMM_WORLD.
std::unique_ptr<Communicator> make_mpi(double timeout_s);
// NCCL for device tensors, bootstrapped over `host` (whose collectives it
// keeps for host tensors and for everything else).
std::unique_ptr<Communicator> make_nccl(std::unique_ptr<Communicator> host);

}  // namespace sono::dist
