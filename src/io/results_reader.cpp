#include "ketasim/io/results_reader.hpp"

#include <hdf5.h>

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <utility>

#include "ketasim/core/error.hpp"
#include "ketasim/io/hdf5_heap_check.hpp"
#include "ketasim/io/results_file.hpp"

namespace ketasim::io {

namespace {

// Results-file formats this reader understands, by the writer's major.minor version.
constexpr const char* kKnownVersions[] = {"0.1"};
// More elements than this in one endpoint dataset is not a file ketasim wrote (2^32 patient-arms).
constexpr hsize_t kMaxElements = hsize_t{1} << 32;

// Every read is checked before it happens: the file is user input, and a dataset of the wrong
// rank, shape or type would make HDF5 write past the buffers handed to it.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {}

  [[noreturn]] void reject(const std::string& object, const std::string& problem) const {
    throw InputError(SourceLocation{path_, object, 0, 0}, "not a ketasim results file of a known version: " + problem);
  }

  void open() {
    struct stat info {};
    if (stat(path_.c_str(), &info) == 0) file_bytes_ = static_cast<hsize_t>(info.st_size);
    // No HDF5 error stacks on stderr: every failure below becomes one message.
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    // Before libhdf5 reads anything: a damaged global heap would make it loop forever.
    if (auto problem = find_damaged_global_heap(path_))
      throw InputError(SourceLocation{path_, "", 0, 0}, "damaged HDF5 file: " + *problem);
    if (H5Fis_hdf5(path_.c_str()) <= 0) throw InputError(SourceLocation{path_, "", 0, 0}, "not an HDF5 file");
    file_ = Hdf5Handle{H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
    if (!file_.valid()) throw InputError(SourceLocation{path_, "", 0, 0}, "cannot open the HDF5 file (damaged?)");
  }

  bool has_attribute(const char* name) const { return H5Aexists(file_.get(), name) > 0; }
  bool has_dataset(const char* name) const { return H5Lexists(file_.get(), name, H5P_DEFAULT) > 0; }

  // A root attribute holding one text value.
  std::string text_attribute(const char* name) const {
    const Hdf5Handle attribute = open_scalar_attribute(name);
    const Hdf5Handle type{H5Aget_type(attribute.get()), H5Tclose};
    if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING) reject(name, "attribute is not text");
    std::string value;
    if (H5Tis_variable_str(type.get()) > 0) {
      const Hdf5Handle memory = variable_string_type();
      char* text = nullptr;
      if (H5Aread(attribute.get(), memory.get(), &text) < 0) reject(name, "attribute cannot be read");
      if (text) {
        value = text;
        H5free_memory(text);
      }
    } else {
      const std::size_t size = H5Tget_size(type.get());
      if (size == 0 || size > (std::size_t{1} << 24)) reject(name, "attribute has an implausible size");
      value.assign(size, '\0');
      if (H5Aread(attribute.get(), type.get(), value.data()) < 0) reject(name, "attribute cannot be read");
      value = value.c_str();
    }
    return value;
  }

  // A root attribute holding one number (integer or floating point); `fallback` when absent.
  double number_attribute(const char* name, double fallback) const {
    if (!has_attribute(name)) return fallback;
    const Hdf5Handle attribute = open_scalar_attribute(name);
    const Hdf5Handle type{H5Aget_type(attribute.get()), H5Tclose};
    const H5T_class_t kind = type.valid() ? H5Tget_class(type.get()) : H5T_NO_CLASS;
    if (kind != H5T_INTEGER && kind != H5T_FLOAT) reject(name, "attribute is not a number");
    double value = 0.0;
    if (H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, &value) < 0 || !std::isfinite(value)) {
      reject(name, "attribute is not a finite number");
    }
    return value;
  }

  // The extent of a dataset reached by a hard link from the root group, checked for its rank.
  std::vector<hsize_t> shape(const std::string& name, int rank) const {
    const Hdf5Handle dataset = open_dataset(name);
    return checked_shape(dataset, name, rank);
  }

  static bool valid_utf8(const std::string& text) {
    for (std::size_t i = 0; i < text.size();) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      const int extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : -1;
      if (extra < 0 || i + extra >= text.size() + (extra == 0 ? 1 : 0)) return false;
      for (int k = 1; k <= extra; ++k) {
        if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return false;
      }
      i += 1 + extra;
    }
    return true;
  }

  std::vector<std::string> labels(const std::string& name) const {
    const Hdf5Handle dataset = open_dataset(name);
    const std::vector<hsize_t> dims = checked_shape(dataset, name, 1);
    const Hdf5Handle type{H5Dget_type(dataset.get()), H5Tclose};
    if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) <= 0) {
      reject(name, "expected variable-length text labels");
    }
    if (dims[0] > 100000) reject(name, "implausibly many labels");
    const Hdf5Handle memory = variable_string_type();
    const Hdf5Handle space{H5Dget_space(dataset.get()), H5Sclose};
    std::vector<char*> raw(dims[0], nullptr);
    if (H5Dread(dataset.get(), memory.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0) {
      reject(name, "labels cannot be read");
    }
    std::vector<std::string> out;
    for (char* label : raw) out.emplace_back(label ? label : "");
    H5Dvlen_reclaim(memory.get(), space.get(), H5P_DEFAULT, raw.data());
    // Labels are written as UTF-8 (the type says so): a byte sequence that is not UTF-8 is damage.
    // ketasim writes no empty label (arm, scenario and group names are required non-empty), so an
    // empty one is damage; printed, it would silently drop a name from the tables.
    for (const auto& label : out) {
      if (!valid_utf8(label)) reject(name, "a label is not valid UTF-8 (damaged file?)");
      if (label.empty()) reject(name, "an empty label (damaged file?)");
    }
    return out;
  }

  bool chunks_within(hid_t dataset, const std::vector<hsize_t>& dims) const {
    const Hdf5Handle plist{H5Dget_create_plist(dataset), H5Pclose};
    if (!plist.valid()) return false;
    if (H5Pget_layout(plist.get()) != H5D_CHUNKED) return true;
    std::vector<hsize_t> chunk(dims.size());
    if (H5Pget_chunk(plist.get(), static_cast<int>(chunk.size()), chunk.data()) != static_cast<int>(chunk.size())) return false;
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (chunk[i] == 0 || chunk[i] > std::max<hsize_t>(dims[i], 1)) return false;
    }
    // Each stored chunk lies inside the file: libhdf5 allocates a chunk's stored size before it
    // reads it, so a damaged size in the chunk index would be an allocation of any size.
    // Looked up by coordinate (an index lookup each; H5Dget_chunk_info by rank walks the index).
    std::vector<hsize_t> offset(dims.size(), 0);
    bool more = !dims.empty() && std::all_of(dims.begin(), dims.end(), [](hsize_t d) { return d > 0; });
    while (more) {
      haddr_t address = 0;
      hsize_t stored_bytes = 0;
      unsigned filter_mask = 0;
      if (H5Dget_chunk_info_by_coord(dataset, offset.data(), &filter_mask, &address, &stored_bytes) < 0) return false;
      // A chunk not written has no address; all_chunks_written() reports that case.
      if (address != HADDR_UNDEF && (stored_bytes > file_bytes_ || address > file_bytes_ - stored_bytes)) return false;
      more = false;
      for (std::size_t i = dims.size(); i-- > 0;) {
        offset[i] += chunk[i];
        if (offset[i] < dims[i]) {
          more = true;
          break;
        }
        offset[i] = 0;
      }
    }
    return true;
  }

  // A chunked dataset holds every chunk its shape needs (H5Dget_space_status cannot tell: with
  // compression the stored size is always below the full size).
  static bool all_chunks_written(hid_t dataset, const std::vector<hsize_t>& dims) {
    const Hdf5Handle plist{H5Dget_create_plist(dataset), H5Pclose};
    if (!plist.valid()) return false;
    if (H5Pget_layout(plist.get()) != H5D_CHUNKED) return true;
    std::vector<hsize_t> chunk(dims.size());
    if (H5Pget_chunk(plist.get(), static_cast<int>(chunk.size()), chunk.data()) != static_cast<int>(chunk.size())) return false;
    hsize_t expected = 1;
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (chunk[i] == 0) return false;
      expected *= (dims[i] + chunk[i] - 1) / chunk[i];
    }
    const Hdf5Handle space{H5Dget_space(dataset), H5Sclose};
    hsize_t written = 0;
    return space.valid() && H5Dget_num_chunks(dataset, space.get(), &written) >= 0 && written == expected;
  }

  // Reads a whole numeric dataset whose shape must be exactly `expected`.
  template <typename T>
  std::vector<T> values(const std::string& name, const std::vector<hsize_t>& expected, hid_t memory_type,
                        H5T_class_t stored_class) const {
    const Hdf5Handle dataset = open_dataset(name);
    const std::vector<hsize_t> dims = checked_shape(dataset, name, static_cast<int>(expected.size()));
    if (dims != expected) reject(name, "shape " + describe(dims) + ", expected " + describe(expected));
    const Hdf5Handle type{H5Dget_type(dataset.get()), H5Tclose};
    if (!type.valid() || H5Tget_class(type.get()) != stored_class) {
      reject(name, std::string("expected ") + (stored_class == H5T_INTEGER ? "integer" : "floating-point") + " values");
    }
    // ketasim's chunks never exceed the dataset along any axis; a damaged layout message with a
    // larger chunk makes libhdf5 allocate the whole chunk inside H5Dread (3.6 GB for a 40-patient
    // file, found by fuzz_results), so refuse it before reading.
    if (!chunks_within(dataset.get(), dims)) {
      reject(name, "its chunks are larger than the dataset or the file (damaged file?)");
    }
    std::vector<T> out(static_cast<std::size_t>(elements(expected, name)));
    // ketasim writes every chunk of every per-patient dataset: a chunk missing from the index
    // (damage) would otherwise read back as the fill value, i.e. silently as "no response".
    if (!out.empty() && !all_chunks_written(dataset.get(), dims)) {
      reject(name, "not every part of it was written (damaged or incomplete file)");
    }
    if (!out.empty() && H5Dread(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0) {
      reject(name, "values cannot be read (damaged data?)");
    }
    return out;
  }

  // The flag_values attribute of a dataset (a small 1-D integer array).
  std::vector<int> flag_values(const std::string& name) const {
    const Hdf5Handle dataset = open_dataset(name);
    if (H5Aexists(dataset.get(), "flag_values") <= 0) reject(name, "no flag_values attribute");
    const Hdf5Handle attribute{H5Aopen(dataset.get(), "flag_values", H5P_DEFAULT), H5Aclose};
    const Hdf5Handle space{attribute.valid() ? H5Aget_space(attribute.get()) : H5I_INVALID_HID, H5Sclose};
    const Hdf5Handle type{attribute.valid() ? H5Aget_type(attribute.get()) : H5I_INVALID_HID, H5Tclose};
    const hssize_t n = space.valid() ? H5Sget_simple_extent_npoints(space.get()) : -1;
    if (!type.valid() || H5Tget_class(type.get()) != H5T_INTEGER || n < 1 || n > 64) {
      reject(name + ".flag_values", "expected 1 to 64 integers");
    }
    std::vector<int> out(static_cast<std::size_t>(n));
    if (H5Aread(attribute.get(), H5T_NATIVE_INT, out.data()) < 0) reject(name + ".flag_values", "cannot be read");
    return out;
  }

  hsize_t elements(const std::vector<hsize_t>& dims, const std::string& name) const {
    hsize_t n = 1;
    for (const hsize_t d : dims) {
      if (d != 0 && n > kMaxElements / d) reject(name, "more than " + std::to_string(kMaxElements) + " values");
      n *= d;
    }
    return n;
  }

  static std::string describe(const std::vector<hsize_t>& dims) {
    std::string s = "(";
    for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + ")";
  }

 private:
  Hdf5Handle open_scalar_attribute(const char* name) const {
    if (!has_attribute(name)) reject(name, "root attribute missing");
    Hdf5Handle attribute{H5Aopen(file_.get(), name, H5P_DEFAULT), H5Aclose};
    if (!attribute.valid()) reject(name, "attribute cannot be opened");
    const Hdf5Handle space{H5Aget_space(attribute.get()), H5Sclose};
    if (!space.valid() || H5Sget_simple_extent_npoints(space.get()) != 1) reject(name, "expected a single value");
    return attribute;
  }

  Hdf5Handle open_dataset(const std::string& name) const {
    // Only a hard link in the root group: a soft or external link could lead anywhere.
    // Names are plain (no '/'), so the lookup never walks into a group.
    H5L_info_t link{};
    if (name.empty() || name.find('/') != std::string::npos || H5Lexists(file_.get(), name.c_str(), H5P_DEFAULT) <= 0 ||
        H5Lget_info(file_.get(), name.c_str(), &link, H5P_DEFAULT) < 0 || link.type != H5L_TYPE_HARD) {
      reject(name, "dataset missing");
    }
    H5O_info_t info{};
    if (H5Oget_info_by_name2(file_.get(), name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0 ||
        info.type != H5O_TYPE_DATASET) {
      reject(name, "not a dataset");
    }
    Hdf5Handle dataset{H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose};
    if (!dataset.valid()) reject(name, "dataset cannot be opened");
    return dataset;
  }

  std::vector<hsize_t> checked_shape(const Hdf5Handle& dataset, const std::string& name, int rank) const {
    const Hdf5Handle space{H5Dget_space(dataset.get()), H5Sclose};
    if (!space.valid() || H5Sget_simple_extent_type(space.get()) != H5S_SIMPLE) reject(name, "not an array");
    // The rank first: H5Sget_simple_extent_dims writes one value per axis.
    const int found = H5Sget_simple_extent_ndims(space.get());
    if (found != rank) {
      reject(name, std::to_string(found) + " axes, expected " + std::to_string(rank));
    }
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) != rank) reject(name, "unreadable shape");
    return dims;
  }

  static Hdf5Handle variable_string_type() {
    Hdf5Handle type{H5Tcopy(H5T_C_S1), H5Tclose};
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    return type;
  }

  std::string path_;
  hsize_t file_bytes_ = 0;
  Hdf5Handle file_;
};

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(separator, start);
    out.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace

EndpointData read_endpoints(const std::string& path, Provenance provenance) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) throw InputError(SourceLocation{path, "", 0, 0}, "file not found");
  if (!S_ISREG(info.st_mode)) throw InputError(SourceLocation{path, "", 0, 0}, "not a regular file");
  Reader r(path);
  r.open();
  if (provenance == Provenance::required) {
    if (r.text_attribute("software") != "ketasim") r.reject("software", "written by another program");
    const std::string version = r.text_attribute("software_version");
    const auto major_minor = version.substr(0, version.find('.', version.find('.') + 1));
    if (std::find(std::begin(kKnownVersions), std::end(kKnownVersions), major_minor) == std::end(kKnownVersions)) {
      r.reject("software_version", "written by ketasim " + version + ", which this version cannot read");
    }
  }

  EndpointData d;
  d.arms = r.labels("arm");
  if (d.arms.empty()) r.reject("arm", "no arms");
  d.n_patients = static_cast<long long>(r.shape("patient", 1)[0]);

  // Sweep dimensions come first, so the flat arrays are [point][arm][patient].
  std::vector<hsize_t> dims;
  if (r.has_attribute("sweep_dimensions")) {
    for (const auto& name : split(r.text_attribute("sweep_dimensions"), ' ')) {
      if (name.empty() || name == "arm" || name == "patient") r.reject("sweep_dimensions", "bad dimension name");
      dims.push_back(r.shape(name, 1)[0]);
    }
    d.sweep_points = split(r.text_attribute("sweep_points"), '\n');
    if (d.sweep_points.size() != r.elements(dims, "sweep_points")) {
      r.reject("sweep_points", std::to_string(d.sweep_points.size()) + " point labels for " +
                                   std::to_string(r.elements(dims, "sweep_points")) + " sweep points");
    }
  } else {
    if (r.has_attribute("sweep_points")) r.reject("sweep_points", "sweep points without sweep_dimensions");
    d.sweep_points.emplace_back();
  }
  dims.push_back(d.arms.size());
  dims.push_back(static_cast<hsize_t>(d.n_patients));
  r.elements(dims, "status");

  d.status = r.values<std::int8_t>("status", dims, H5T_NATIVE_INT8, H5T_INTEGER);
  d.response = r.values<std::int8_t>("response", dims, H5T_NATIVE_INT8, H5T_INTEGER);
  d.remission = r.values<std::int8_t>("remission", dims, H5T_NATIVE_INT8, H5T_INTEGER);
  d.relapse = r.values<std::int8_t>("relapse", dims, H5T_NATIVE_INT8, H5T_INTEGER);
  d.change = r.values<float>("madrs_change", dims, H5T_NATIVE_FLOAT, H5T_FLOAT);
  d.baseline = r.values<float>("baseline_madrs", dims, H5T_NATIVE_FLOAT, H5T_FLOAT);
  d.dropout_time_d = r.values<double>("dropout_time_d", dims, H5T_NATIVE_DOUBLE, H5T_FLOAT);

  // Damaged data reads without an HDF5 error when it is not compressed: check what the table uses.
  const std::vector<int> flags = r.flag_values("status");
  for (std::size_t i = 0; i < d.status.size(); ++i) {
    if (std::find(flags.begin(), flags.end(), d.status[i]) == flags.end()) {
      r.reject("status", "value " + std::to_string(d.status[i]) + " is not one of its flag_values");
    }
    if (d.status[i] != 0) continue;
    for (const auto* flag : {&d.response, &d.remission, &d.relapse}) {
      if ((*flag)[i] != 0 && (*flag)[i] != 1) r.reject("response/remission/relapse", "a flag that is not 0 or 1");
    }
    if (!(std::fabs(d.change[i]) <= 60.0f)) r.reject("madrs_change", "a change outside -60 to 60 for a patient with status ok");
    if (!(d.baseline[i] >= 0.0f && d.baseline[i] <= 60.0f)) r.reject("baseline_madrs", "a score outside 0 to 60 for a patient with status ok");
  }

  if (r.has_dataset("event_time_d") || r.has_dataset("event_observed") || r.has_dataset("event_endpoint")) {
    d.event_endpoints = r.labels("event_endpoint");
    if (d.event_endpoints.empty() || d.event_endpoints.size() > 16) r.reject("event_endpoint", "1 to 16 labels expected");
    std::vector<hsize_t> event_dims = dims;
    event_dims.push_back(d.event_endpoints.size());
    d.event_time_d = r.values<double>("event_time_d", event_dims, H5T_NATIVE_DOUBLE, H5T_FLOAT);
    d.event_observed = r.values<std::int8_t>("event_observed", event_dims, H5T_NATIVE_INT8, H5T_INTEGER);
    for (std::size_t i = 0; i < d.event_observed.size(); ++i) {
      const std::int8_t o = d.event_observed[i];
      if (o < -1 || o > 1) r.reject("event_observed", "a value that is not -1, 0 or 1");
      // At risk: a finite, non-negative time (the survival code puts every such time on its grid).
      if (o >= 0 && !(d.event_time_d[i] >= 0.0 && d.event_time_d[i] < 1e7)) {
        r.reject("event_time_d", "a time that is negative, not finite or beyond 10^7 d for a patient at risk");
      }
    }
  }

  if (r.has_dataset("withdrawal_hazard_ratio") || r.has_dataset("withdrawal_group")) {
    d.withdrawal_groups = r.labels("withdrawal_group");
    d.withdrawal_arms = r.labels("withdrawal_arm");
    if (d.withdrawal_groups.empty() || d.withdrawal_groups.size() > 64) r.reject("withdrawal_group", "1 to 64 labels expected");
    if (d.withdrawal_arms.size() != 2) r.reject("withdrawal_arm", "expected 2 labels (continue, stop)");
    const std::vector<hsize_t> by_arm{d.withdrawal_groups.size(), 2}, by_group{d.withdrawal_groups.size()};
    d.withdrawal_n = r.values<std::int64_t>("withdrawal_n", by_arm, H5T_NATIVE_INT64, H5T_INTEGER);
    d.withdrawal_relapses = r.values<std::int64_t>("withdrawal_relapses", by_arm, H5T_NATIVE_INT64, H5T_INTEGER);
    for (std::size_t i = 0; i < d.withdrawal_n.size(); ++i) {
      if (d.withdrawal_n[i] < 0 || d.withdrawal_relapses[i] < 0 || d.withdrawal_relapses[i] > d.withdrawal_n[i]) {
        r.reject("withdrawal_relapses", "counts that are negative or more relapses than patients");
      }
    }
    d.withdrawal_median_d = r.values<double>("withdrawal_km_median_d", by_arm, H5T_NATIVE_DOUBLE, H5T_FLOAT);
    d.withdrawal_median_lower_d = r.values<double>("withdrawal_km_median_lower_d", by_arm, H5T_NATIVE_DOUBLE, H5T_FLOAT);
    d.withdrawal_median_upper_d = r.values<double>("withdrawal_km_median_upper_d", by_arm, H5T_NATIVE_DOUBLE, H5T_FLOAT);
    d.withdrawal_hazard_ratio = r.values<double>("withdrawal_hazard_ratio", by_group, H5T_NATIVE_DOUBLE, H5T_FLOAT);
    d.withdrawal_hazard_ratio_lower = r.values<double>("withdrawal_hazard_ratio_lower", by_group, H5T_NATIVE_DOUBLE, H5T_FLOAT);
    d.withdrawal_hazard_ratio_upper = r.values<double>("withdrawal_hazard_ratio_upper", by_group, H5T_NATIVE_DOUBLE, H5T_FLOAT);
    d.withdrawal_logrank_p = r.values<double>("withdrawal_logrank_p", by_group, H5T_NATIVE_DOUBLE, H5T_FLOAT);
    d.withdrawal_at_d = r.number_attribute("withdrawal_at_d", 0.0);
    if (r.has_attribute("withdrawal_ratio")) d.withdrawal_ratio = r.text_attribute("withdrawal_ratio");
  }
  if (r.has_dataset("parameter_draw_response")) {
    const std::vector<hsize_t> shape = r.shape("parameter_draw_response", 2);
    if (shape[0] < 1 || shape[0] > 1000 || shape[1] != d.arms.size()) {
      r.reject("parameter_draw_response", "expected (parameter_draw, arm) with 1 to 1000 draws");
    }
    const std::vector<hsize_t> by_arm{shape[0], d.arms.size()};
    d.parameter_draws = static_cast<long long>(shape[0]);
    d.draw_response = r.values<double>("parameter_draw_response", by_arm, H5T_NATIVE_DOUBLE, H5T_FLOAT);
    d.draw_remission = r.values<double>("parameter_draw_remission", by_arm, H5T_NATIVE_DOUBLE, H5T_FLOAT);
    d.draw_change = r.values<double>("parameter_draw_change", by_arm, H5T_NATIVE_DOUBLE, H5T_FLOAT);
    for (const auto& [name, rates] : {std::pair{"parameter_draw_response", &d.draw_response},
                                      std::pair{"parameter_draw_remission", &d.draw_remission}}) {
      for (double v : *rates) {
        if (!(v >= 0.0 && v <= 1.0) && !std::isnan(v)) r.reject(name, "a rate outside [0, 1]");
      }
    }
  }
  if (r.has_attribute("study_name")) d.study_name = r.text_attribute("study_name");
  d.primary_visit_d = r.number_attribute("primary_visit_d", 0.0);
  d.remission_threshold = r.number_attribute("remission_threshold", 0.0);
  const double replicates = r.number_attribute("power_replicates", 0.0);
  const double per_replicate = r.number_attribute("power_patients_per_replicate", 0.0);
  if (replicates < 0.0 || replicates > 1e9 || per_replicate < 0.0 || per_replicate > 1e12) {
    r.reject("power_replicates", "out of range");
  }
  d.power_replicates = static_cast<long long>(replicates);
  d.power_patients_per_replicate = static_cast<long long>(per_replicate);
  // The comparisons the run made ("ARM REFERENCE" per line); absent: every arm vs the first.
  const int n_arms_int = static_cast<int>(d.arms.size());
  if (r.has_attribute("comparisons")) {
    std::istringstream pairs(r.text_attribute("comparisons"));
    int arm = 0, reference = 0;
    while (pairs >> arm >> reference) {
      if (arm < 0 || reference < 0 || arm >= n_arms_int || reference >= n_arms_int || arm == reference) {
        r.reject("comparisons", "an arm index out of range");
      }
      d.comparisons.emplace_back(arm, reference);
    }
  } else {
    for (int a = 1; a < n_arms_int; ++a) d.comparisons.emplace_back(a, 0);
  }
  return d;
}

}  // namespace ketasim::io
