// A build without MPI (dist/comm.cpp and dist/comm_mpi.cpp compiled with
// SONO_WITH_MPI=0, see tests/dist/CMakeLists.txt) under a launcher: refused
// with a message naming the launcher's variables and the missing MPI; without
// a launcher, the single-process communicator.
#include <doctest/doctest.h>

#include <cstdlib>

#include "dist/comm.h"
#include "tests/support/skip.h"

using namespace sono;

namespace {

// make_communicator's error under the current environment ("" when it succeeds).
std::string refusal() {
  try {
    dist::make_communicator(60.0);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("dist: a build without MPI refuses a launch of several ranks and names the launcher and MPI") {
  for (const char* n : dist::launch_env_vars())
    if (std::getenv(n)) {
      test::skip(str_cat("runs without a launcher, but ", n, " is set"));
      return;
    }
  CHECK_FALSE(dist::built_with_mpi());

  // No launcher: one process, no MPI needed.
  const std::unique_ptr<dist::Communicator> single = dist::make_communicator(60.0);
  CHECK(single->backend() == "single");
  CHECK(single->world_size() == 1);
  CHECK(single->rank() == 0);

  // mpirun's variables.
  setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  setenv("OMPI_COMM_WORLD_RANK", "1", 1);
  std::string msg = refusal();
  CHECK_MESSAGE(msg.find("launched as rank 1 of 2") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("OMPI_COMM_WORLD_SIZE") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("built without MPI") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("libopenmpi-dev") != std::string::npos, msg);
  unsetenv("OMPI_COMM_WORLD_SIZE");
  unsetenv("OMPI_COMM_WORLD_RANK");

  // A torchrun-style launcher's.
  setenv("WORLD_SIZE", "2", 1);
  setenv("RANK", "0", 1);
  msg = refusal();
  CHECK_MESSAGE(msg.find("launched as rank 0 of 2") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("WORLD_SIZE, RANK") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("built without MPI") != std::string::npos, msg);
  unsetenv("WORLD_SIZE");
  unsetenv("RANK");

  // A launch of one rank needs no MPI either.
  setenv("WORLD_SIZE", "1", 1);
  CHECK(dist::make_communicator(60.0)->backend() == "single");
  unsetenv("WORLD_SIZE");
  // Asking for MPI outright (force_mpi) is refused the same way.
  CHECK_THROWS_WITH_AS(dist::make_communicator(60.0, false, true), doctest::Contains("built without MPI"), Error);
}
