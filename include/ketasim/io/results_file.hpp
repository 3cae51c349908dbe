#pragma once
// Writer for the run's results file (spec 3, docs/results-format.md): one HDF5 file, netCDF-4
// compatible, written to "<final_path>.tmp.<pid>.<6 random letters/digits>" (created exclusively, so
// never through a planted file or link) and renamed onto the output path only by commit(), so that
// an interrupted or failed run never leaves a half-written file where the user looks. Only a
// regular file is ever replaced at the output path (never a device, pipe, socket or link).
//
// Not thread-safe: one thread owns a ResultsFile (workers hand their batches to that thread).
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ketasim::io {

enum class ElementType { float32, float64, int8, int32, int64 };

struct VariableSpec {
  // A constructor for the required fields, so that VariableSpec{name, dims, type, units, long_name}
  // does not trip -Wmissing-field-initializers; the optional fields are then set by name.
  VariableSpec() = default;
  VariableSpec(std::string name_, std::vector<std::string> dims_, ElementType type_, std::string units_,
               std::string long_name_)
      : name(std::move(name_)), dims(std::move(dims_)), type(type_), units(std::move(units_)),
        long_name(std::move(long_name_)) {}

  std::string name;
  std::vector<std::string> dims;  // names of existing dimensions, C order
  ElementType type = ElementType::float64;
  std::string units;      // UDUNITS string, required ("1" for dimensionless)
  std::string long_name;  // required
  std::vector<std::pair<std::string, std::string>> text_attributes;  // extra string attributes
  std::vector<int> flag_values;  // optional CF flags; stored with the variable's own element type
  std::string flag_meanings;     // optional, space separated; required when flag_values is set
  // Chunk length along a dimension named "patient" (0: the whole dimension, capped at 1024).
  // Every other axis is whole in each chunk. Variables without a "patient" axis are contiguous.
  hsize_t chunk_patients = 0;
  bool compress = true;  // shuffle + deflate level 1, when chunked
};

// Owns an HDF5 identifier and closes it exactly once (H5Dclose, H5Fclose, ... per kind).
class Hdf5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Hdf5Handle() = default;
  Hdf5Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Hdf5Handle() { reset(); }
  Hdf5Handle(Hdf5Handle&& other) noexcept : id_(other.release()), closer_(other.closer_) {}
  Hdf5Handle& operator=(Hdf5Handle&& other) noexcept;
  Hdf5Handle(const Hdf5Handle&) = delete;
  Hdf5Handle& operator=(const Hdf5Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  hid_t release() {
    const hid_t id = id_;
    id_ = H5I_INVALID_HID;
    return id;
  }
  // Returns false when HDF5 reported an error while closing (the caller decides whether that matters).
  bool reset() noexcept;

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// HDF5 1.10 leaves a file whose close failed (a full disk while flushing) half-destroyed but still
// registered, and its shutdown at exit (H5_term_library, registered with atexit) then crashes on it
// (SIGSEGV in H5F__close_cb). A process that writes results calls this first thing in main(),
// before any other HDF5 call, so that a failed run exits with its own status. Nothing is lost:
// every file is closed explicitly, and the OS frees the library's memory at exit.
void skip_hdf5_shutdown_at_exit();

class ResultsFile {
 public:
  // Creates the temporary file in the output's folder (so that commit's rename is atomic), after
  // removing that output's stale temporary files (see remove_stale_temporaries).
  // Throws ketasim::RuntimeFailure naming the path when the file cannot be created or when
  // something other than a regular file sits at `final_path`.
  explicit ResultsFile(std::string final_path);
  // Without commit(): closes and removes the temporary file. Never throws.
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  // Coordinate variables; each becomes a dimension scale named after the dimension.
  void add_dimension(const std::string& name, const std::vector<double>& coords, const std::string& units,
                     const std::string& long_name);
  void add_dimension(const std::string& name, const std::vector<std::int64_t>& coords, const std::string& units,
                     const std::string& long_name);
  void add_dimension(const std::string& name, const std::vector<std::int32_t>& coords, const std::string& units,
                     const std::string& long_name);
  // Variable-length UTF-8 string coordinate (arm names, scenarios); units "1".
  // A dimension whose coordinates are 0, 1, ..., length - 1 (int64), written in fixed-size blocks
  // so that memory does not grow with the length (10^8 patients would otherwise need 800 MB).
  void add_index_dimension(const std::string& name, hsize_t length, const std::string& units,
                           const std::string& long_name);
  void add_label_dimension(const std::string& name, const std::vector<std::string>& labels,
                           const std::string& long_name);

  // A variable-length UTF-8 string variable along one existing dimension (provenance texts).
  void add_string_variable(const std::string& name, const std::string& dimension, const std::vector<std::string>& values,
                           const std::string& long_name);

  // Creates the dataset (float variables are pre-filled with NaN so that unwritten cells read as
  // missing, not as 0) and returns a handle id for write().
  int create_variable(const VariableSpec& spec);

  // Hyperslab write: start/count have one entry per axis; data holds prod(count) values in C order
  // and must match the variable's element type (no silent conversion). Throws RuntimeFailure.
  void write(int variable, const std::vector<hsize_t>& start, const std::vector<hsize_t>& count, const float* data);
  void write(int variable, const std::vector<hsize_t>& start, const std::vector<hsize_t>& count, const double* data);
  void write(int variable, const std::vector<hsize_t>& start, const std::vector<hsize_t>& count,
             const std::int8_t* data);
  void write(int variable, const std::vector<hsize_t>& start, const std::vector<hsize_t>& count,
             const std::int32_t* data);
  void write(int variable, const std::vector<hsize_t>& start, const std::vector<hsize_t>& count,
             const std::int64_t* data);

  // Shuffle + deflate level 1 of one chunk of `n_elements` values of `element_size` bytes each (1,
  // 4 or 8), the encoding of the dataset's own filters: callers compress chunks in parallel and
  // pass the bytes to write_encoded_chunk, so the single writer thread only copies. `out` and
  // `scratch` are reused between calls.
  static void encode_chunk(const void* data, std::size_t n_elements, std::size_t element_size,
                           std::vector<unsigned char>& scratch, std::vector<unsigned char>& out);
  template <class T>
  static void encode_chunk(const T* data, std::size_t n_elements, std::vector<unsigned char>& scratch,
                           std::vector<unsigned char>& out) {
    encode_chunk(static_cast<const void*>(data), n_elements, sizeof(T), scratch, out);
  }
  // Writes one whole chunk of a compressed variable, as encode_chunk made it from the variable's
  // element type. `chunk_start` is its element offset, a multiple of the chunk shape on every
  // axis; the chunk holds the whole chunk shape (edge chunks padded).
  void write_encoded_chunk(int variable, const std::vector<hsize_t>& chunk_start,
                           const std::vector<unsigned char>& encoded);
  // The chunk shape of a variable (empty when not chunked).
  const std::vector<hsize_t>& chunk_shape(int variable) const;

  // Root attributes (replaced when set twice). CF text attributes (units, long_name, flag_meanings,
  // Conventions, ...) are stored as NC_CHAR, other text as variable-length UTF-8; an int64 value is
  // stored as int32, else float64 when exact, else as decimal text (no 64-bit integer attributes).
  void set_attribute(const std::string& name, const std::string& value);
  void set_attribute(const std::string& name, const char* value) { set_attribute(name, std::string(value)); }
  void set_attribute(const std::string& name, double value);
  void set_attribute(const std::string& name, std::int64_t value);

  // Flushes, closes every handle and renames the temporary file onto the final path.
  // `before_rename`, when given, runs on the complete, closed temporary file just before the rename
  // (to read back what this run wrote: another process may replace the final path at any time);
  // if it throws, nothing is renamed. Afterwards the object accepts no more calls except destruction.
  // A failure (e.g. a full disk) throws RuntimeFailure and leaves neither file.
  void commit(const std::function<void(const std::string& temporary_path)>& before_rename = {});

  // Temporary files of earlier runs to `final_path` whose process is gone (killed by SIGKILL, a
  // crash, a power cut): "<final_path>.tmp.<pid>[.<6 chars>]" regular files whose pid no longer
  // exists on this machine. Removes them and returns their paths.
  static std::vector<std::string> remove_stale_temporaries(const std::string& final_path);
  // What the constructor removed.
  const std::vector<std::string>& removed_stale_temporaries() const { return removed_stale_; }

  const std::string& temporary_path() const { return temporary_path_; }
  const std::string& final_path() const { return final_path_; }

 private:
  struct Dimension {
    Hdf5Handle dataset;
    hsize_t length = 0;
  };
  struct Variable {
    std::string name;
    Hdf5Handle dataset;
    ElementType type;
    std::vector<hsize_t> shape;
    std::vector<hsize_t> chunk;  // empty when contiguous
    bool compressed = false;
  };

  void require_open(const char* operation) const;
  void add_numeric_dimension(const std::string& name, hid_t memory_type, const void* coords, hsize_t length,
                             const std::string& units, const std::string& long_name);
  void register_dimension(const std::string& name, Hdf5Handle dataset, hsize_t length);
  Hdf5Handle write_utf8_strings(const std::string& name, const std::vector<std::string>& values,
                                const std::string& long_name, const std::string& context);
  void write_any(int variable, ElementType buffer_type, const std::vector<hsize_t>& start,
                 const std::vector<hsize_t>& count, const void* data);
  std::string where(const std::string& object) const;
  void close_all() noexcept;
  void abandon() noexcept;  // after a failed commit: close what is left, remove the temporary file

  std::string final_path_;
  std::string temporary_path_;
  std::vector<std::string> removed_stale_;
  bool committed_ = false;
  // Declared in opening order; close_all() releases them in reverse (variables, dimensions, file).
  Hdf5Handle file_;
  std::vector<std::string> dimension_order_;
  std::map<std::string, Dimension> dimensions_;
  std::vector<Variable> variables_;
};

}  // namespace ketasim::io
