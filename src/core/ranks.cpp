#include "ketasim/core/ranks.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

#include "ketasim/core/error.hpp"
#include "ketasim/core/interrupt.hpp"

#ifdef KETASIM_MPI
// The C API only: Open MPI's deprecated C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace ketasim {
namespace {

// The group size a launcher announces in the environment: Open MPI's mpirun, PMIx (srun
// --mpi=pmix, Open MPI 5) and PMI-1/2 (srun --mpi=pmi2, MPICH's hydra). 0: no launcher.
int launcher_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"}) {
    if (const char* value = std::getenv(name)) {
      const int size = std::atoi(value);
      if (size > 0) return size;
    }
  }
  // PMIx does not always export a size; a rank variable still says a launcher started us.
  for (const char* name : {"PMIX_RANK", "PMI_RANK"}) {
    if (std::getenv(name)) return 1;
  }
  return 0;
}

#ifdef KETASIM_MPI
// Parts stay below MPI's int element count.
constexpr std::size_t kPartBytes = std::size_t{1} << 30;
constexpr int kTag = 7;

void check_mpi(int status, const std::string& what) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, text, &length);
  throw RuntimeFailure(what + " (MPI: " + std::string(text, static_cast<std::size_t>(length)) + ")");
}

// (offset, length) of each part of a message of `size` bytes, in order.
template <class Transfer>
void for_each_part(std::size_t size, Transfer&& transfer) {
  for (std::size_t offset = 0; offset < size; offset += kPartBytes) {
    transfer(offset, static_cast<int>(std::min(kPartBytes, size - offset)));
  }
}

// Completes a request while watching for a signal: a short spin, then naps of 50 us so that a
// waiting rank does not take a core from the workers it shares the machine with.
void wait_polling(MPI_Request& request, const std::string& what) {
  for (int spins = 0;; ++spins) {
    int done = 0;
    check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    // The request is left pending: the caller unwinds and main aborts the whole group.
    throw_if_interrupted();
    if (spins > 100) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}
#endif

}  // namespace

bool Ranks::built_with_mpi() {
#ifdef KETASIM_MPI
  return true;
#else
  return false;
#endif
}

Ranks Ranks::from_launcher() {
  Ranks ranks;
  const int announced = launcher_size();
#ifdef KETASIM_MPI
  if (announced == 0) return ranks;
  int provided = 0;
  check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "cannot start MPI");
  ranks.owns_mpi_ = true;
  if (provided < MPI_THREAD_SERIALIZED) {
    throw RuntimeFailure("the MPI library does not allow calls from more than one thread (MPI_THREAD_SERIALIZED)");
  }
  // Errors come back as codes and become RuntimeFailure, instead of MPI's default abort.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &ranks.rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks.size_);
#else
  if (announced > 1) {
    throw RuntimeFailure("started as one of " + std::to_string(announced) +
                         " processes (mpirun/srun), but this ketasim was built without MPI: every process would run "
                         "the whole study. Build with -DKETASIM_MPI=ON (tools/setup.sh --mpi), or run it once");
  }
#endif
  return ranks;
}

Ranks::Ranks(Ranks&& other) noexcept : rank_(other.rank_), size_(other.size_), owns_mpi_(other.owns_mpi_) {
  other.owns_mpi_ = false;
}

Ranks::~Ranks() {
#ifdef KETASIM_MPI
  if (owns_mpi_) MPI_Finalize();
#endif
}

void Ranks::send(int to, const std::vector<unsigned char>& bytes) const {
#ifdef KETASIM_MPI
  const std::string what = "rank " + std::to_string(rank_) + " cannot send to rank " + std::to_string(to);
  std::uint64_t size = bytes.size();
  MPI_Request request;
  check_mpi(MPI_Isend(&size, 1, MPI_UINT64_T, to, kTag, MPI_COMM_WORLD, &request), what);
  wait_polling(request, what);
  for_each_part(bytes.size(), [&](std::size_t offset, int part) {
    check_mpi(MPI_Isend(bytes.data() + offset, part, MPI_BYTE, to, kTag, MPI_COMM_WORLD, &request), what);
    wait_polling(request, what);
  });
#else
  (void)to;
  (void)bytes;
  throw RuntimeFailure("Ranks::send in a build without MPI");
#endif
}

void Ranks::receive(int from, std::vector<unsigned char>& bytes) const {
#ifdef KETASIM_MPI
  const std::string what = "rank " + std::to_string(rank_) + " cannot receive from rank " + std::to_string(from);
  std::uint64_t size = 0;
  MPI_Request request;
  check_mpi(MPI_Irecv(&size, 1, MPI_UINT64_T, from, kTag, MPI_COMM_WORLD, &request), what);
  wait_polling(request, what);
  bytes.resize(size);
  for_each_part(bytes.size(), [&](std::size_t offset, int part) {
    check_mpi(MPI_Irecv(bytes.data() + offset, part, MPI_BYTE, from, kTag, MPI_COMM_WORLD, &request), what);
    wait_polling(request, what);
  });
#else
  (void)from;
  (void)bytes;
  throw RuntimeFailure("Ranks::receive in a build without MPI");
#endif
}

std::vector<int> Ranks::failed_ranks(bool ok) const {
  std::vector<int> failed;
#ifdef KETASIM_MPI
  if (owns_mpi_) {
    std::vector<int> all(static_cast<std::size_t>(size_), 0);
    const int mine = ok ? 1 : 0;
    check_mpi(MPI_Allgather(&mine, 1, MPI_INT, all.data(), 1, MPI_INT, MPI_COMM_WORLD),
              "rank " + std::to_string(rank_) + " cannot exchange start-up status");
    for (int r = 0; r < size_; ++r) {
      if (!all[static_cast<std::size_t>(r)]) failed.push_back(r);
    }
    return failed;
  }
#endif
  if (!ok) failed.push_back(rank_);
  return failed;
}

std::vector<int> Ranks::differing_from_rank0(const std::string& fingerprint) const {
  std::vector<int> differing;
#ifdef KETASIM_MPI
  if (owns_mpi_) {
    const std::string what = "rank " + std::to_string(rank_) + " cannot compare its study with rank 0's";
    unsigned long long length = fingerprint.size();
    check_mpi(MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD), what);
    std::string reference = rank_ == 0 ? fingerprint : std::string(static_cast<std::size_t>(length), '\0');
    for_each_part(reference.size(), [&](std::size_t offset, int part) {
      check_mpi(MPI_Bcast(reference.data() + offset, part, MPI_CHAR, 0, MPI_COMM_WORLD), what);
    });
    for (const int r : failed_ranks(reference == fingerprint)) differing.push_back(r);
  }
#else
  (void)fingerprint;
#endif
  return differing;
}

void Ranks::abort(int status) const {
#ifdef KETASIM_MPI
  if (owns_mpi_) MPI_Abort(MPI_COMM_WORLD, status);
#endif
  std::exit(status);
}

std::string Ranks::message_prefix() const { return size_ > 1 ? "rank " + std::to_string(rank_) + ": " : ""; }

}  // namespace ketasim
