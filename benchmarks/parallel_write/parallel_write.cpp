// Three ways for K MPI ranks to put one chunked, compressed per-patient dataset into one HDF5 file,
// timed on the same bytes (issue 12 part A: "written collectively with parallel HDF5, or per-rank
// files joined by a virtual dataset if that measures better; say which and why"):
//
//   rank0       what `mpirun ... ketasim run` does (docs/scaling.md): every rank shuffles and
//               deflates its own batches, sends the compressed chunks to rank 0, and rank 0 alone
//               copies them into the file with H5Dwrite_chunk (POSIX driver), then renames it.
//   collective  parallel HDF5 (MPI-IO driver): every rank opens the file, and each round every rank
//               writes its next batch in one collective H5Dwrite; HDF5 runs the shuffle + deflate
//               filters itself (filtered parallel writes, HDF5 >= 1.10.2), then rank 0 renames.
//   vds         every rank writes its own file of its chunks (H5Dwrite_chunk); rank 0 then writes
//               the main file, a virtual dataset mapping each batch to its rank's file, and renames.
//
// Same chunking as ketasim (one chunk = one batch of `batch` patients x every time point) and the
// same filters (shuffle + deflate level 1) in all three. "collective" compresses inside HDF5, so
// with zlib: HDF5 refuses to replace its predefined deflate filter, and every reader decodes only
// that one. To tell the write strategy's cost from the compressor's, "collective-libdeflate" runs
// the same collective writes with libdeflate registered as a filter of the testing id range (256):
// a measurement only, its file needs this program's filter to be read. The data is a real
// ketasim results dataset (its patients tiled `--replicate` times), read before any timing.
// Every written file is read back through HDF5 and compared bit for bit with the input; a
// mismatch exits 1. It is a measurement, not ketasim: it links parallel HDF5 (Debian
// libhdf5-openmpi-dev), which the ketasim executable does not.
//
// mpirun -n K parallel_write_bench INPUT.h5 DATASET OUTPUT_DIR [--replicate M] [--repeat R] [--batch P]
// Prints one line per strategy: K, patients, megabytes raw and stored, median and all wall times.
#include <hdf5.h>
#include <libdeflate.h>
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string input, dataset, output_dir;
  int replicate = 1, repeat = 5;
  hsize_t batch_patients = 256;
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "parallel_write_bench: %s\n", what.c_str());
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

void check(herr_t status, const char* what) {
  if (status < 0) fail(std::string("HDF5 failed: ") + what);
}
hid_t check_id(hid_t id, const char* what) {
  if (id < 0) fail(std::string("HDF5 failed: ") + what);
  return id;
}

// ---- deflate through libdeflate, as ketasim's encode_chunk does ----------------------------------

// Byte shuffle of 4-byte elements (HDF5's shuffle filter): byte plane b holds byte b of every value.
void shuffle4(const unsigned char* in, std::size_t n, unsigned char* out) {
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t b = 0; b < 4; ++b) out[b * n + i] = in[i * 4 + b];
  }
}

std::vector<unsigned char> encode_chunk(const float* values, std::size_t n, libdeflate_compressor* c) {
  std::vector<unsigned char> shuffled(n * 4);
  shuffle4(reinterpret_cast<const unsigned char*>(values), n, shuffled.data());
  std::vector<unsigned char> out(libdeflate_zlib_compress_bound(c, shuffled.size()));
  const std::size_t size = libdeflate_zlib_compress(c, shuffled.data(), shuffled.size(), out.data(), out.size());
  if (size == 0) fail("libdeflate could not compress a chunk");
  out.resize(size);
  return out;
}

// A deflate filter (zlib format) with libdeflate in place of zlib, under a testing filter id, so
// that the collective writes can also be timed with the others' compressor. cd_values[0] is the level.
size_t libdeflate_filter(unsigned flags, size_t cd_nelmts, const unsigned cd_values[], size_t nbytes,
                         size_t* buf_size, void** buf) {
  if (flags & H5Z_FLAG_REVERSE) {
    libdeflate_decompressor* d = libdeflate_alloc_decompressor();
    std::size_t capacity = std::max<std::size_t>(*buf_size * 4, 1 << 16);
    for (;;) {
      void* out = std::malloc(capacity);
      std::size_t actual = 0;
      const libdeflate_result r = libdeflate_zlib_decompress(d, *buf, nbytes, out, capacity, &actual);
      if (r == LIBDEFLATE_SUCCESS) {
        libdeflate_free_decompressor(d);
        std::free(*buf);
        *buf = out;
        *buf_size = capacity;
        return actual;
      }
      std::free(out);
      if (r != LIBDEFLATE_INSUFFICIENT_SPACE) {
        libdeflate_free_decompressor(d);
        return 0;
      }
      capacity *= 2;
    }
  }
  libdeflate_compressor* c = libdeflate_alloc_compressor(cd_nelmts > 0 ? static_cast<int>(cd_values[0]) : 1);
  const std::size_t bound = libdeflate_zlib_compress_bound(c, nbytes);
  void* out = std::malloc(bound);
  const std::size_t size = libdeflate_zlib_compress(c, *buf, nbytes, out, bound);
  libdeflate_free_compressor(c);
  if (size == 0) {
    std::free(out);
    return 0;
  }
  std::free(*buf);
  *buf = out;
  *buf_size = bound;
  return size;
}

constexpr H5Z_filter_t kLibdeflateFilter = 256;  // HDF5 reserves 256-511 for testing

void register_libdeflate_filter() {
  static const H5Z_class2_t filter = {H5Z_CLASS_T_VERS, kLibdeflateFilter, 1, 1, "deflate (libdeflate, testing id)",
                                      nullptr, nullptr, libdeflate_filter};
  check(H5Zregister(&filter), "H5Zregister(deflate via libdeflate)");
}

// ---- the workload ---------------------------------------------------------------------------------

struct Workload {
  hsize_t patients = 0, times = 0, batch = 0, batches = 0;
  int rank = 0, ranks = 1;
  // This rank's batches (b % ranks == rank), each batch x times floats, the last one zero-padded.
  std::vector<hsize_t> mine;
  std::vector<std::vector<float>> data;
  hsize_t patients_in(hsize_t b) const { return std::min(batch, patients - b * batch); }
};

// Rows of the input dataset (1 x n x times, or n x times), patient i of the tiled cohort being input
// patient i mod n.
std::vector<float> read_input(const Options& o, hsize_t& input_patients, hsize_t& times) {
  const hid_t file = check_id(H5Fopen(o.input.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open input");
  const hid_t dset = check_id(H5Dopen2(file, o.dataset.c_str(), H5P_DEFAULT), "open input dataset");
  const hid_t space = H5Dget_space(dset);
  hsize_t dims[3] = {0, 0, 0};
  const int rank = H5Sget_simple_extent_ndims(space);
  H5Sget_simple_extent_dims(space, dims, nullptr);
  if (rank == 3 && dims[0] == 1) {
    input_patients = dims[1];
    times = dims[2];
  } else if (rank == 2) {
    input_patients = dims[0];
    times = dims[1];
  } else {
    fail("the input dataset must be (1, patients, times) or (patients, times)");
  }
  std::vector<float> values(input_patients * times);
  check(H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "read input");
  H5Sclose(space);
  H5Dclose(dset);
  H5Fclose(file);
  return values;
}

Workload make_workload(const Options& o, const std::vector<float>& input, hsize_t input_patients, hsize_t times,
                       int rank, int ranks) {
  Workload w;
  w.rank = rank;
  w.ranks = ranks;
  w.times = times;
  w.batch = o.batch_patients;
  w.patients = input_patients * static_cast<hsize_t>(o.replicate);
  w.batches = (w.patients + w.batch - 1) / w.batch;
  for (hsize_t b = static_cast<hsize_t>(rank); b < w.batches; b += static_cast<hsize_t>(ranks)) {
    std::vector<float> chunk(w.batch * times, 0.0f);
    for (hsize_t p = 0; p < w.patients_in(b); ++p) {
      const hsize_t source = (b * w.batch + p) % input_patients;
      std::copy_n(input.begin() + static_cast<std::ptrdiff_t>(source * times), times,
                  chunk.begin() + static_cast<std::ptrdiff_t>(p * times));
    }
    w.mine.push_back(b);
    w.data.push_back(std::move(chunk));
  }
  return w;
}

// Dataset creation property list: chunk (1, batch, times), shuffle + deflate 1, no fill (every chunk
// is written), allocation as each strategy's driver needs.
hid_t chunked_dcpl(const Workload& w, bool libdeflate = false) {
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  const hsize_t chunk[3] = {1, w.batch, w.times};
  check(H5Pset_chunk(dcpl, 3, chunk), "H5Pset_chunk");
  check(H5Pset_shuffle(dcpl), "H5Pset_shuffle");
  if (libdeflate) {
    const unsigned level = 1;
    check(H5Pset_filter(dcpl, kLibdeflateFilter, H5Z_FLAG_MANDATORY, 1, &level), "H5Pset_filter(libdeflate)");
  } else {
    check(H5Pset_deflate(dcpl, 1), "H5Pset_deflate");
  }
  check(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "H5Pset_fill_time");
  return dcpl;
}

hid_t create_dataset(hid_t file, const Workload& w, hsize_t patients, hid_t dcpl) {
  const hsize_t dims[3] = {1, patients, w.times};
  const hid_t space = H5Screate_simple(3, dims, nullptr);
  const hid_t dset = check_id(H5Dcreate2(file, "conc", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                              "create dataset");
  H5Sclose(space);
  return dset;
}

hid_t posix_create(const std::string& path) {
  return check_id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "create file");
}

void rename_onto(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) fail("rename " + from + " -> " + to);
}

// ---- the three strategies -------------------------------------------------------------------------

void write_rank0(const Workload& w, const std::string& final_path) {
  libdeflate_compressor* c = libdeflate_alloc_compressor(1);
  if (w.rank != 0) {
    for (std::size_t k = 0; k < w.mine.size(); ++k) {
      const std::vector<unsigned char> encoded = encode_chunk(w.data[k].data(), w.batch * w.times, c);
      MPI_Send(encoded.data(), static_cast<int>(encoded.size()), MPI_BYTE, 0, static_cast<int>(w.mine[k]),
               MPI_COMM_WORLD);
    }
    libdeflate_free_compressor(c);
    return;
  }
  const std::string temporary = final_path + ".tmp";
  const hid_t file = posix_create(temporary);
  const hid_t dcpl = chunked_dcpl(w);
  const hid_t dset = create_dataset(file, w, w.patients, dcpl);
  std::vector<unsigned char> received;
  std::size_t own = 0;
  for (hsize_t b = 0; b < w.batches; ++b) {
    const std::vector<unsigned char>* chunk = &received;
    std::vector<unsigned char> encoded;
    if (static_cast<int>(b % static_cast<hsize_t>(w.ranks)) == 0) {
      encoded = encode_chunk(w.data[own++].data(), w.batch * w.times, c);
      chunk = &encoded;
    } else {
      MPI_Status status;
      MPI_Probe(static_cast<int>(b % static_cast<hsize_t>(w.ranks)), static_cast<int>(b), MPI_COMM_WORLD, &status);
      int size = 0;
      MPI_Get_count(&status, MPI_BYTE, &size);
      received.resize(static_cast<std::size_t>(size));
      MPI_Recv(received.data(), size, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    const hsize_t offset[3] = {0, b * w.batch, 0};
    check(H5Dwrite_chunk(dset, H5P_DEFAULT, 0, offset, chunk->size(), chunk->data()), "H5Dwrite_chunk");
  }
  H5Dclose(dset);
  H5Pclose(dcpl);
  check(H5Fclose(file), "close file");
  rename_onto(temporary, final_path);
  libdeflate_free_compressor(c);
}

void write_collective_with(const Workload& w, const std::string& final_path, bool libdeflate) {
  const std::string temporary = final_path + ".tmp";
  const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  check(H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL), "H5Pset_fapl_mpio");
  const hid_t file = check_id(H5Fcreate(temporary.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), "create file (MPI-IO)");
  const hid_t dcpl = chunked_dcpl(w, libdeflate);
  const hid_t dset = create_dataset(file, w, w.patients, dcpl);
  const hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  check(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio");
  const hid_t file_space = H5Dget_space(dset);
  const hsize_t rounds = (w.batches + static_cast<hsize_t>(w.ranks) - 1) / static_cast<hsize_t>(w.ranks);
  for (hsize_t r = 0; r < rounds; ++r) {
    // Every rank takes part in every round's write (filtered writes must be collective); a rank
    // without a batch this round selects nothing.
    const bool has = r < w.mine.size();
    const hsize_t b = has ? w.mine[r] : 0, n = has ? w.patients_in(b) : 0;
    const hsize_t memory_dims[3] = {1, std::max<hsize_t>(n, 1), w.times};
    const hid_t memory_space = H5Screate_simple(3, memory_dims, nullptr);
    if (has) {
      const hsize_t start[3] = {0, b * w.batch, 0}, count[3] = {1, n, w.times};
      check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr), "select");
    } else {
      check(H5Sselect_none(file_space), "select none");
      check(H5Sselect_none(memory_space), "select none");
    }
    check(H5Dwrite(dset, H5T_NATIVE_FLOAT, memory_space, file_space, dxpl, has ? w.data[r].data() : nullptr),
          "collective H5Dwrite");
    H5Sclose(memory_space);
  }
  H5Sclose(file_space);
  H5Pclose(dxpl);
  H5Dclose(dset);
  H5Pclose(dcpl);
  check(H5Fclose(file), "close file (collective)");
  H5Pclose(fapl);
  if (w.rank == 0) rename_onto(temporary, final_path);
}

void write_collective(const Workload& w, const std::string& final_path) { write_collective_with(w, final_path, false); }
void write_collective_libdeflate(const Workload& w, const std::string& final_path) {
  write_collective_with(w, final_path, true);
}

std::string rank_file_name(const std::string& final_path, int rank) {
  return final_path + ".rank" + std::to_string(rank);
}

void write_vds(const Workload& w, const std::string& final_path) {
  // Each rank: its own file, its batches one after another.
  libdeflate_compressor* c = libdeflate_alloc_compressor(1);
  {
    const hid_t file = posix_create(rank_file_name(final_path, w.rank));
    const hid_t dcpl = chunked_dcpl(w);
    hsize_t mine_patients = 0;
    for (hsize_t b : w.mine) mine_patients += w.patients_in(b);
    const hid_t dset = create_dataset(file, w, std::max<hsize_t>(mine_patients, 1), dcpl);
    for (std::size_t k = 0; k < w.mine.size(); ++k) {
      const std::vector<unsigned char> encoded = encode_chunk(w.data[k].data(), w.batch * w.times, c);
      const hsize_t offset[3] = {0, static_cast<hsize_t>(k) * w.batch, 0};
      check(H5Dwrite_chunk(dset, H5P_DEFAULT, 0, offset, encoded.size(), encoded.data()), "H5Dwrite_chunk (rank file)");
    }
    H5Dclose(dset);
    H5Pclose(dcpl);
    check(H5Fclose(file), "close rank file");
  }
  libdeflate_free_compressor(c);
  MPI_Barrier(MPI_COMM_WORLD);  // every rank file is complete before the main file points at it
  if (w.rank != 0) return;
  const std::string temporary = final_path + ".tmp";
  const hid_t file = posix_create(temporary);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  const hsize_t dims[3] = {1, w.patients, w.times};
  const hid_t vspace = H5Screate_simple(3, dims, nullptr);
  std::vector<hsize_t> next(static_cast<std::size_t>(w.ranks), 0);  // next patient row in each rank file
  for (hsize_t b = 0; b < w.batches; ++b) {
    const int owner = static_cast<int>(b % static_cast<hsize_t>(w.ranks));
    const hsize_t n = w.patients_in(b);
    hsize_t owner_patients = 0;
    for (hsize_t k = static_cast<hsize_t>(owner); k < w.batches; k += static_cast<hsize_t>(w.ranks)) {
      owner_patients += w.patients_in(k);
    }
    const hsize_t source_dims[3] = {1, owner_patients, w.times};
    const hid_t sspace = H5Screate_simple(3, source_dims, nullptr);
    const hsize_t source_start[3] = {0, next[static_cast<std::size_t>(owner)], 0}, count[3] = {1, n, w.times};
    const hsize_t target_start[3] = {0, b * w.batch, 0};
    check(H5Sselect_hyperslab(sspace, H5S_SELECT_SET, source_start, nullptr, count, nullptr), "select source");
    check(H5Sselect_hyperslab(vspace, H5S_SELECT_SET, target_start, nullptr, count, nullptr), "select target");
    // Relative to the main file's folder: the files move together.
    std::string source = rank_file_name(final_path, owner);
    source = source.substr(source.find_last_of('/') + 1);
    check(H5Pset_virtual(dcpl, vspace, source.c_str(), "conc", sspace), "H5Pset_virtual");
    next[static_cast<std::size_t>(owner)] += n;
    H5Sclose(sspace);
  }
  H5Sselect_all(vspace);
  const hid_t dset = check_id(H5Dcreate2(file, "conc", H5T_NATIVE_FLOAT, vspace, H5P_DEFAULT, dcpl, H5P_DEFAULT),
                              "create virtual dataset");
  H5Dclose(dset);
  H5Sclose(vspace);
  H5Pclose(dcpl);
  check(H5Fclose(file), "close main file");
  rename_onto(temporary, final_path);
}

// ---- checking and timing --------------------------------------------------------------------------

// Reads `path`'s dataset back (rank 0, POSIX driver) and compares it bit for bit with the tiled input.
bool matches_input(const std::string& path, const std::vector<float>& input, hsize_t input_patients,
                   const Workload& w) {
  const hid_t file = check_id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "reopen output");
  const hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
  const std::string folder = path.substr(0, path.find_last_of('/') + 1);
  check(H5Pset_virtual_prefix(dapl, folder.c_str()), "H5Pset_virtual_prefix");
  const hid_t dset = check_id(H5Dopen2(file, "conc", dapl), "reopen dataset");
  std::vector<float> values(w.patients * w.times);
  check(H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "read back");
  H5Dclose(dset);
  H5Pclose(dapl);
  H5Fclose(file);
  for (hsize_t p = 0; p < w.patients; ++p) {
    const float* expected = input.data() + (p % input_patients) * w.times;
    if (std::memcmp(values.data() + p * w.times, expected, w.times * sizeof(float)) != 0) return false;
  }
  return true;
}

long long stored_bytes(const std::string& path, int ranks, bool with_rank_files) {
  long long total = 0;
  auto add = [&](const std::string& p) {
    if (FILE* f = std::fopen(p.c_str(), "rb")) {
      std::fseek(f, 0, SEEK_END);
      total += std::ftell(f);
      std::fclose(f);
    }
  };
  add(path);
  if (with_rank_files) {
    for (int r = 0; r < ranks; ++r) add(rank_file_name(path, r));
  }
  return total;
}

Options parse(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> long {
      if (i + 1 >= argc) fail("option " + a + " needs a value");
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 1) fail("option " + a + " needs a positive integer");
      return v;
    };
    if (a == "--replicate") {
      o.replicate = static_cast<int>(value());
    } else if (a == "--repeat") {
      o.repeat = static_cast<int>(value());
    } else if (a == "--batch") {
      o.batch_patients = static_cast<hsize_t>(value());
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 3) {
    fail("usage: mpirun -n K parallel_write_bench INPUT.h5 DATASET OUTPUT_DIR [--replicate M] [--repeat R] [--batch P]");
  }
  o.input = positional[0];
  o.dataset = positional[1];
  o.output_dir = positional[2];
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const Options o = parse(argc, argv);
  register_libdeflate_filter();

  hsize_t input_patients = 0, times = 0;
  const std::vector<float> input = read_input(o, input_patients, times);
  const Workload w = make_workload(o, input, input_patients, times, rank, ranks);

  struct Strategy {
    const char* name;
    void (*write)(const Workload&, const std::string&);
    bool rank_files;
  };
  const Strategy strategies[] = {{"rank0", write_rank0, false},
                                 {"collective", write_collective, false},
                                 {"collective-libdeflate", write_collective_libdeflate, false},
                                 {"vds", write_vds, true}};
  bool all_match = true;
  for (const Strategy& s : strategies) {
    const std::string path = o.output_dir + "/parallel_write_" + s.name + ".h5";
    std::vector<double> seconds;
    for (int r = 0; r < o.repeat; ++r) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double start = MPI_Wtime();
      s.write(w, path);
      MPI_Barrier(MPI_COMM_WORLD);  // done when the last rank is done (rank 0 renames last)
      seconds.push_back(MPI_Wtime() - start);
    }
    if (rank == 0) {
      const bool match = matches_input(path, input, input_patients, w);
      all_match = all_match && match;
      std::vector<double> sorted = seconds;
      std::sort(sorted.begin(), sorted.end());
      std::printf("%-21s K=%d patients=%llu raw_MB=%.1f stored_MB=%.1f median_s=%.3f runs=", s.name, ranks,
                  static_cast<unsigned long long>(w.patients),
                  static_cast<double>(w.patients * w.times * sizeof(float)) / 1e6,
                  static_cast<double>(stored_bytes(path, ranks, s.rank_files)) / 1e6, sorted[sorted.size() / 2]);
      for (double t : seconds) std::printf("%.3f ", t);
      std::printf("%s\n", match ? "(read back: identical)" : "(read back: DIFFERENT)");
      std::fflush(stdout);
    }
  }
  int status = all_match ? 0 : 1;
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Finalize();
  return status;
}
