// Unit tests of src/core/ranks.cpp that need no launcher:
//   * a group of one is rank 0 of 1, not distributed, with no message prefix;
//   * failed_ranks in a group of one names this rank exactly when it failed;
//   * a build without MPI started as one of several processes (the launcher's environment says
//     so) refuses, naming the CMake option, instead of running the whole study in every process.
// What needs mpirun (bit-identical results for K = 1, 2, 3, killed ranks) is tests/python/test_mpi.py.
#include "ketasim/core/ranks.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

using namespace ketasim;

TEST_CASE("A group of one", "[core][ranks]") {
  const Ranks alone;
  CHECK(alone.rank() == 0);
  CHECK(alone.size() == 1);
  CHECK_FALSE(alone.distributed());
  CHECK(alone.message_prefix().empty());
  CHECK(alone.failed_ranks(true).empty());
  CHECK(alone.failed_ranks(false) == std::vector<int>{0});
}

TEST_CASE("Without a launcher the group is this process alone", "[core][ranks]") {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS", "PMIX_RANK", "PMI_RANK"}) {
    if (std::getenv(name)) {
      WARN("not checked: started by a launcher (" << name << ")");
      return;
    }
  }
  const Ranks ranks = Ranks::from_launcher();
  CHECK(ranks.size() == 1);
  CHECK(ranks.rank() == 0);
}

#ifndef KETASIM_MPI
TEST_CASE("A build without MPI refuses to be one of several processes", "[core][ranks]") {
  const char* saved = std::getenv("OMPI_COMM_WORLD_SIZE");
  ::setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
  CHECK_THROWS_WITH(Ranks::from_launcher(),
                    Catch::Contains("one of 3 processes") && Catch::Contains("-DKETASIM_MPI=ON"));
  ::setenv("OMPI_COMM_WORLD_SIZE", "1", 1);  // a launch of one is just this process
  CHECK(Ranks::from_launcher().size() == 1);
  if (saved) {
    ::setenv("OMPI_COMM_WORLD_SIZE", saved, 1);
  } else {
    ::unsetenv("OMPI_COMM_WORLD_SIZE");
  }
}
#endif
