#pragma once
// The processes one `ketasim run` is split across (docs/scaling.md). Built with -DKETASIM_MPI=ON and
// started by mpirun or srun, they are MPI's world: rank 0 writes the results file and every rank
// computes a share of the patient batches. Otherwise (the default build, or an MPI build started
// on its own) the group is this process alone and nothing below touches MPI.
//
// Messages are byte vectors sent point to point. Every wait polls for a signal (interrupt.hpp), so
// a rank told to stop by the launcher (SIGTERM when another rank died) unwinds and removes its
// temporary file instead of blocking forever in MPI.
#include <string>
#include <vector>

namespace ketasim {

class Ranks {
 public:
  // This process alone.
  Ranks() = default;
  // The launcher's group: MPI_Init_thread (MPI_THREAD_SERIALIZED: one thread at a time calls MPI)
  // when this build has MPI and mpirun/srun started the process; else this process alone.
  // Throws RuntimeFailure when a build without MPI was started as one of several processes (each
  // would run the whole study and race for the same output path).
  static Ranks from_launcher();
  ~Ranks();  // MPI_Finalize, when this object initialized MPI
  Ranks(Ranks&& other) noexcept;
  Ranks& operator=(Ranks&&) = delete;
  Ranks(const Ranks&) = delete;
  Ranks& operator=(const Ranks&) = delete;

  // Whether this build can join an MPI launch (-DKETASIM_MPI=ON).
  static bool built_with_mpi();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool distributed() const { return size_ > 1; }

  // Blocking point-to-point transfer of any size (sent in parts below MPI's int count limit).
  // Messages between two ranks arrive in the order they were sent. Throws RuntimeFailure on an
  // MPI error or a signal.
  void send(int to, const std::vector<unsigned char>& bytes) const;
  void receive(int from, std::vector<unsigned char>& bytes) const;

  // Every rank learns which ranks report `ok == false` (collective: every rank must call it).
  std::vector<int> failed_ranks(bool ok) const;

  // The ranks whose `fingerprint` differs from rank 0's (collective; fingerprints are compared
  // whole, any length).
  std::vector<int> differing_from_rank0(const std::string& fingerprint) const;

  // Ends every rank of the group with `status` (MPI_Abort); a group of one just exits.
  [[noreturn]] void abort(int status) const;

  // What a rank prefixes its messages with when there are several ("rank 2: "), else "".
  std::string message_prefix() const;

 private:
  int rank_ = 0;
  int size_ = 1;
  bool owns_mpi_ = false;
};

}  // namespace ketasim
