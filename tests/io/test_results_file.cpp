#include "ketasim/io/results_file.hpp"

#include <hdf5_hl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ketasim/core/error.hpp"

namespace fs = std::filesystem;
using ketasim::RuntimeFailure;
using ketasim::io::ElementType;
using ketasim::io::Hdf5Handle;
using ketasim::io::ResultsFile;
using ketasim::io::VariableSpec;

namespace {

// A fresh folder per test case, removed afterwards whatever happened.
struct ScratchFolder {
  fs::path path;
  explicit ScratchFolder(const std::string& tag)
      : path(fs::temp_directory_path() / ("ketasim_io_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchFolder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::vector<std::string> folder_entries(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename().string());
  return names;
}

constexpr hsize_t sample_arms = 2;
constexpr hsize_t sample_patients = 7;
constexpr hsize_t sample_times = 4;
constexpr hsize_t sample_chunk_patients = 3;

float sample_concentration_ng_per_ml(hsize_t arm, hsize_t patient, hsize_t time) {
  return static_cast<float>(100 * arm + 10 * patient + time) + 0.25f;
}

// Every feature the engine uses: label, int64, float64 and int32 dimensions; a 3-D float32 variable
// chunked by patient and written in patient batches one arm at a time (as the engine does); an int8
// flags variable; a partly written float64 variable; numeric and long string root attributes.
void write_sample_file(ResultsFile& file) {
  file.add_label_dimension("arm", {"placebo", "ketamine 0.5 mg/kg \xC2\xB5"}, "treatment arm");
  std::vector<std::int64_t> patient_index(sample_patients);
  for (hsize_t p = 0; p < sample_patients; ++p) patient_index[p] = static_cast<std::int64_t>(p);
  file.add_dimension("patient", patient_index, "1", "global patient index");
  file.add_dimension("time", std::vector<double>{0.0, 0.5, 1.0, 24.0}, "h", "time after the first dose");
  file.add_dimension("dose", std::vector<std::int32_t>{0, 1}, "1", "dose index within the arm's schedule");

  VariableSpec conc{"conc_ketamine", {"arm", "patient", "time"}, ElementType::float32, "ng/mL",
                    "ketamine plasma concentration"};
  conc.chunk_patients = sample_chunk_patients;
  conc.text_attributes = {{"moiety", "ketamine"}, {"comment", ""}};
  const int conc_id = file.create_variable(conc);
  for (hsize_t arm = 0; arm < sample_arms; ++arm) {
    for (hsize_t first = 0; first < sample_patients; first += sample_chunk_patients) {
      const hsize_t batch = std::min(sample_chunk_patients, sample_patients - first);
      std::vector<float> slab;
      for (hsize_t p = first; p < first + batch; ++p)
        for (hsize_t t = 0; t < sample_times; ++t) slab.push_back(sample_concentration_ng_per_ml(arm, p, t));
      file.write(conc_id, {arm, first, 0}, {1, batch, sample_times}, slab.data());
    }
  }

  VariableSpec sex{"sex", {"patient"}, ElementType::int8, "1", "sex"};
  sex.flag_values = {0, 1};
  sex.flag_meanings = "male female";
  const int sex_id = file.create_variable(sex);
  std::vector<std::int8_t> sexes(sample_patients);
  for (hsize_t p = 0; p < sample_patients; ++p) sexes[p] = static_cast<std::int8_t>(p % 2);
  file.write(sex_id, {0}, {sample_patients}, sexes.data());

  const int weight_id = file.create_variable({"weight_kg", {"patient"}, ElementType::float64, "kg", "body weight"});
  const std::vector<double> weights_kg(sample_patients - 1, 70.5);
  file.write(weight_id, {0}, {sample_patients - 1}, weights_kg.data());  // the last patient stays NaN

  file.create_variable({"cmax_ketamine", {"arm", "patient", "dose"}, ElementType::float64, "ng/mL",
                        "maximum concentration per dose"});

  file.set_attribute("software", "ketasim");
  file.set_attribute("Conventions", "CF-1.8");
  file.set_attribute("seed", std::int64_t{1234567890123});        // beyond int32: stored as float64
  file.set_attribute("replicates", std::int64_t{40});              // fits int32
  file.set_attribute("huge", std::int64_t{9007199254740993});      // 2^53 + 1: not exact as float64
  file.set_attribute("primary_visit_d", 28.0);
  file.set_attribute("config_yaml", std::string(100000, 'y'));  // beyond the 64 KiB object header limit
}

Hdf5Handle open_file(const std::string& path) {
  const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(id >= 0);
  return {id, H5Fclose};
}

Hdf5Handle open_dataset(hid_t file, const std::string& name) {
  const hid_t id = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  REQUIRE(id >= 0);
  return {id, H5Dclose};
}

// Which of the two string layouts an attribute has.
enum class TextKind { variable_length, fixed_length };

TextKind text_kind(hid_t object, const std::string& name) {
  REQUIRE(H5Aexists(object, name.c_str()) > 0);
  Hdf5Handle attribute{H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose};
  Hdf5Handle type{H5Aget_type(attribute.get()), H5Tclose};
  REQUIRE(H5Tget_class(type.get()) == H5T_STRING);
  return H5Tis_variable_str(type.get()) > 0 ? TextKind::variable_length : TextKind::fixed_length;
}

std::string read_text_attribute(hid_t object, const std::string& name) {
  const TextKind kind = text_kind(object, name);
  Hdf5Handle attribute{H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose};
  Hdf5Handle type{H5Aget_type(attribute.get()), H5Tclose};
  if (kind == TextKind::fixed_length) {
    std::string text(H5Tget_size(type.get()), '\0');
    REQUIRE(H5Aread(attribute.get(), type.get(), text.data()) >= 0);
    return text;  // NC_CHAR: exactly the value's bytes, no terminator
  }
  char* value = nullptr;
  REQUIRE(H5Aread(attribute.get(), type.get(), &value) >= 0);
  std::string text(value);
  H5free_memory(value);
  return text;
}

// The stored (file) type of an attribute.
Hdf5Handle attribute_type(hid_t object, const std::string& name) {
  REQUIRE(H5Aexists(object, name.c_str()) > 0);
  Hdf5Handle attribute{H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose};
  return {H5Aget_type(attribute.get()), H5Tclose};
}

template <typename T>
T read_scalar_attribute(hid_t object, const std::string& name, hid_t in_memory_type) {
  Hdf5Handle attribute{H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose};
  T value{};
  REQUIRE(H5Aread(attribute.get(), in_memory_type, &value) >= 0);
  return value;
}

template <typename T>
std::vector<T> read_all(hid_t dataset, hid_t in_memory_type) {
  Hdf5Handle space{H5Dget_space(dataset), H5Sclose};
  std::vector<T> values(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space.get())));
  REQUIRE(H5Dread(dataset, in_memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
  return values;
}

std::vector<std::string> root_dataset_names(hid_t file) {
  std::vector<std::string> names;
  const auto collect = [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->push_back(name);
    return 0;
  };
  REQUIRE(H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect, &names) >= 0);
  return names;
}

std::string dataset_name(hid_t dataset) {
  char name[256] = {};
  H5Iget_name(dataset, name, sizeof name);
  return name;
}

// The name of the dimension scale attached to one axis ("" when none or several are attached).
std::string scale_on_axis(hid_t dataset, unsigned axis) {
  if (H5DSget_num_scales(dataset, axis) != 1) return "";
  std::string scale;
  const auto visit = [](hid_t, unsigned, hid_t scale_id, void* out) -> herr_t {
    *static_cast<std::string*>(out) = dataset_name(scale_id);
    return 0;
  };
  int index = 0;
  H5DSiterate_scales(dataset, axis, &index, visit, &scale);
  return scale;
}

long open_hdf5_object_count() { return static_cast<long>(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL)); }

}  // namespace

TEST_CASE("ResultsFile writes a self-describing netCDF-4 layout", "[io]") {
  ScratchFolder folder("layout");
  const std::string path = folder.file("results.h5");
  {
    ResultsFile file(path);
    write_sample_file(file);
    file.commit();
  }
  const Hdf5Handle file = open_file(path);

  SECTION("every dataset has units and long_name, every axis a dimension scale") {
    const std::vector<std::string> dimensions{"arm", "patient", "time", "dose"};
    const auto names = root_dataset_names(file.get());
    CHECK(names.size() == 8);
    for (const auto& name : names) {
      INFO("dataset " << name);
      const Hdf5Handle dataset = open_dataset(file.get(), name);
      CHECK_FALSE(read_text_attribute(dataset.get(), "units").empty());
      CHECK_FALSE(read_text_attribute(dataset.get(), "long_name").empty());
      const bool is_dimension = std::find(dimensions.begin(), dimensions.end(), name) != dimensions.end();
      CHECK((H5DSis_scale(dataset.get()) > 0) == is_dimension);
    }
    const Hdf5Handle conc = open_dataset(file.get(), "conc_ketamine");
    CHECK(scale_on_axis(conc.get(), 0) == "/arm");
    CHECK(scale_on_axis(conc.get(), 1) == "/patient");
    CHECK(scale_on_axis(conc.get(), 2) == "/time");
    const Hdf5Handle cmax = open_dataset(file.get(), "cmax_ketamine");
    CHECK(scale_on_axis(cmax.get(), 2) == "/dose");
    const Hdf5Handle sex = open_dataset(file.get(), "sex");
    CHECK(scale_on_axis(sex.get(), 0) == "/patient");
    const Hdf5Handle time = open_dataset(file.get(), "time");
    CHECK(read_text_attribute(time.get(), "units") == "h");
  }

  SECTION("values round-trip, unwritten float cells read NaN") {
    const Hdf5Handle conc = open_dataset(file.get(), "conc_ketamine");
    const auto values = read_all<float>(conc.get(), H5T_NATIVE_FLOAT);
    REQUIRE(values.size() == sample_arms * sample_patients * sample_times);
    for (hsize_t arm = 0; arm < sample_arms; ++arm)
      for (hsize_t p = 0; p < sample_patients; ++p)
        for (hsize_t t = 0; t < sample_times; ++t)
          CHECK(values[(arm * sample_patients + p) * sample_times + t] == sample_concentration_ng_per_ml(arm, p, t));

    const auto patients = read_all<std::int64_t>(open_dataset(file.get(), "patient").get(), H5T_NATIVE_INT64);
    CHECK(patients == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6});
    const auto times_h = read_all<double>(open_dataset(file.get(), "time").get(), H5T_NATIVE_DOUBLE);
    CHECK(times_h == std::vector<double>{0.0, 0.5, 1.0, 24.0});
    const auto doses = read_all<std::int32_t>(open_dataset(file.get(), "dose").get(), H5T_NATIVE_INT32);
    CHECK(doses == std::vector<std::int32_t>{0, 1});
    const auto sexes = read_all<std::int8_t>(open_dataset(file.get(), "sex").get(), H5T_NATIVE_INT8);
    CHECK(sexes == std::vector<std::int8_t>{0, 1, 0, 1, 0, 1, 0});
    const auto weights_kg = read_all<double>(open_dataset(file.get(), "weight_kg").get(), H5T_NATIVE_DOUBLE);
    CHECK(weights_kg[0] == 70.5);
    CHECK(std::isnan(weights_kg.back()));
  }

  SECTION("per-patient arrays are chunked by patient with shuffle and deflate level 1") {
    const Hdf5Handle conc = open_dataset(file.get(), "conc_ketamine");
    const Hdf5Handle dcpl{H5Dget_create_plist(conc.get()), H5Pclose};
    REQUIRE(H5Pget_layout(dcpl.get()) == H5D_CHUNKED);
    hsize_t chunk[3] = {};
    REQUIRE(H5Pget_chunk(dcpl.get(), 3, chunk) == 3);
    CHECK(chunk[0] == sample_arms);
    CHECK(chunk[1] == sample_chunk_patients);
    CHECK(chunk[2] == sample_times);
    REQUIRE(H5Pget_nfilters(dcpl.get()) == 2);
    unsigned flags = 0;
    std::size_t levels = 1;
    unsigned level = 0;
    CHECK(H5Pget_filter2(dcpl.get(), 0, &flags, nullptr, nullptr, 0, nullptr, nullptr) == H5Z_FILTER_SHUFFLE);
    CHECK(H5Pget_filter2(dcpl.get(), 1, &flags, &levels, &level, 0, nullptr, nullptr) == H5Z_FILTER_DEFLATE);
    CHECK(level == 1);

    // Without an explicit chunk length the whole (small) patient axis is one chunk.
    const Hdf5Handle cmax = open_dataset(file.get(), "cmax_ketamine");
    const Hdf5Handle cmax_dcpl{H5Dget_create_plist(cmax.get()), H5Pclose};
    REQUIRE(H5Pget_chunk(cmax_dcpl.get(), 3, chunk) == 3);
    CHECK(chunk[1] == sample_patients);

    // A coordinate has no patient axis to chunk along: contiguous.
    const Hdf5Handle time = open_dataset(file.get(), "time");
    const Hdf5Handle time_dcpl{H5Dget_create_plist(time.get()), H5Pclose};
    CHECK(H5Pget_layout(time_dcpl.get()) == H5D_CONTIGUOUS);
  }

  SECTION("labels are variable-length UTF-8 strings") {
    const Hdf5Handle arm = open_dataset(file.get(), "arm");
    const Hdf5Handle type{H5Dget_type(arm.get()), H5Tclose};
    CHECK(H5Tis_variable_str(type.get()) > 0);
    CHECK(H5Tget_cset(type.get()) == H5T_CSET_UTF8);
    std::vector<char*> labels(sample_arms, nullptr);
    REQUIRE(H5Dread(arm.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data()) >= 0);
    CHECK(std::string(labels[0]) == "placebo");
    CHECK(std::string(labels[1]) == "ketamine 0.5 mg/kg \xC2\xB5");
    Hdf5Handle space{H5Dget_space(arm.get()), H5Sclose};
    H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, labels.data());
  }

  SECTION("flags and root attributes") {
    const Hdf5Handle sex = open_dataset(file.get(), "sex");
    CHECK(read_text_attribute(sex.get(), "flag_meanings") == "male female");
    Hdf5Handle flag_values{H5Aopen(sex.get(), "flag_values", H5P_DEFAULT), H5Aclose};
    Hdf5Handle flag_type{H5Aget_type(flag_values.get()), H5Tclose};
    CHECK(H5Tequal(flag_type.get(), H5T_STD_I8LE) > 0);

    CHECK(read_text_attribute(file.get(), "software") == "ketasim");
    CHECK(read_text_attribute(file.get(), "Conventions") == "CF-1.8");
    CHECK(read_text_attribute(file.get(), "config_yaml").size() == 100000);
    CHECK(read_scalar_attribute<std::int64_t>(file.get(), "seed", H5T_NATIVE_INT64) == 1234567890123);
    CHECK(read_scalar_attribute<std::int32_t>(file.get(), "replicates", H5T_NATIVE_INT32) == 40);
    CHECK(read_text_attribute(file.get(), "huge") == "9007199254740993");
    CHECK(read_scalar_attribute<double>(file.get(), "primary_visit_d", H5T_NATIVE_DOUBLE) == 28.0);
    const Hdf5Handle conc = open_dataset(file.get(), "conc_ketamine");
    CHECK(read_text_attribute(conc.get(), "moiety") == "ketamine");
  }

  // What netCDF-C and CF tools expect (issue 13): CF text attributes as NC_CHAR, _FillValue on
  // float variables, no 64-bit integer attributes (R's ncdf4 warns on each).
  SECTION("CF text attributes are fixed-length, other text stays variable-length") {
    const Hdf5Handle time = open_dataset(file.get(), "time");
    CHECK(text_kind(time.get(), "units") == TextKind::fixed_length);
    CHECK(text_kind(time.get(), "long_name") == TextKind::fixed_length);
    CHECK(H5Tget_size(attribute_type(time.get(), "units").get()) == 1);  // "h", no terminator
    const Hdf5Handle sex = open_dataset(file.get(), "sex");
    CHECK(text_kind(sex.get(), "flag_meanings") == TextKind::fixed_length);
    CHECK(text_kind(file.get(), "Conventions") == TextKind::fixed_length);
    CHECK(text_kind(file.get(), "software") == TextKind::variable_length);
    CHECK(text_kind(file.get(), "config_yaml") == TextKind::variable_length);
    const Hdf5Handle conc = open_dataset(file.get(), "conc_ketamine");
    CHECK(text_kind(conc.get(), "moiety") == TextKind::variable_length);
    CHECK(text_kind(conc.get(), "comment") == TextKind::fixed_length);
    Hdf5Handle empty{H5Aopen(conc.get(), "comment", H5P_DEFAULT), H5Aclose};
    Hdf5Handle empty_space{H5Aget_space(empty.get()), H5Sclose};
    CHECK(H5Sget_simple_extent_type(empty_space.get()) == H5S_NULL);  // how netCDF-C stores ""
  }

  SECTION("float variables carry a NaN _FillValue of their own type, others none") {
    for (const std::string name : {"conc_ketamine", "weight_kg", "cmax_ketamine"}) {
      INFO("variable " << name);
      const Hdf5Handle dataset = open_dataset(file.get(), name);
      const Hdf5Handle stored = attribute_type(dataset.get(), "_FillValue");
      Hdf5Handle dataset_type{H5Dget_type(dataset.get()), H5Tclose};
      CHECK(H5Tequal(stored.get(), dataset_type.get()) > 0);
      CHECK(std::isnan(read_scalar_attribute<double>(dataset.get(), "_FillValue", H5T_NATIVE_DOUBLE)));
    }
    const Hdf5Handle sex = open_dataset(file.get(), "sex");
    CHECK(H5Aexists(sex.get(), "_FillValue") == 0);
  }

  SECTION("no attribute anywhere is a 64-bit integer") {
    std::vector<std::string> objects{"/"};
    for (const auto& name : root_dataset_names(file.get())) objects.push_back(name);
    for (const auto& object_name : objects) {
      Hdf5Handle object{H5Oopen(file.get(), object_name.c_str(), H5P_DEFAULT), H5Oclose};
      std::vector<std::string> attribute_names;
      const auto collect = [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
      };
      REQUIRE(H5Aiterate2(object.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect, &attribute_names) >= 0);
      CHECK_FALSE(attribute_names.empty());
      for (const auto& name : attribute_names) {
        INFO(object_name << " attribute " << name);
        const Hdf5Handle type = attribute_type(object.get(), name);
        CHECK_FALSE((H5Tget_class(type.get()) == H5T_INTEGER && H5Tget_size(type.get()) == 8));
      }
    }
  }
}

TEST_CASE("ResultsFile writes to a temporary file and renames it on commit", "[io]") {
  ScratchFolder folder("commit");
  const std::string path = folder.file("out.h5");
  {
    std::ofstream previous(path);
    previous << "previous results";
  }
  ResultsFile file(path);
  // "<out>.tmp.<pid>.<6 random letters/digits>": unpredictable, so it cannot be planted beforehand.
  const std::string prefix = path + ".tmp." + std::to_string(::getpid()) + ".";
  CHECK(file.temporary_path().compare(0, prefix.size(), prefix) == 0);
  CHECK(file.temporary_path().size() == prefix.size() + 6);
  CHECK(fs::exists(file.temporary_path()));
  write_sample_file(file);
  CHECK(fs::file_size(path) == 16);  // the old file is untouched until commit
  file.commit();
  CHECK_FALSE(fs::exists(file.temporary_path()));
  CHECK(H5Fis_hdf5(path.c_str()) > 0);
  CHECK(folder_entries(folder.path) == std::vector<std::string>{"out.h5"});
  CHECK_THROWS_AS(file.set_attribute("late", 1.0), RuntimeFailure);
}

TEST_CASE("An uncommitted ResultsFile leaves no file behind", "[io]") {
  ScratchFolder folder("abandon");
  const std::string path = folder.file("out.h5");
  std::string temporary;
  try {
    ResultsFile file(path);
    temporary = file.temporary_path();
    write_sample_file(file);
    throw RuntimeFailure("interrupted by SIGINT");  // what the engine does on an interrupt
  } catch (const RuntimeFailure&) {
  }
  CHECK_FALSE(temporary.empty());
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(fs::exists(temporary));
  CHECK(folder_entries(folder.path).empty());
}

TEST_CASE("ResultsFile in a missing folder fails with the path and without HDF5 noise", "[io]") {
  ScratchFolder folder("missing");
  const std::string path = folder.file("no/such/folder/out.h5");
  // HDF5's default error handler writes to stderr (fd 2); capture it around the failing call.
  const std::string captured = folder.file("stderr.txt");
  std::fflush(stderr);
  const int saved_stderr = ::dup(2);
  std::FILE* sink = std::fopen(captured.c_str(), "w");
  REQUIRE(sink != nullptr);
  ::dup2(::fileno(sink), 2);
  std::string message;
  try {
    ResultsFile file(path);
  } catch (const RuntimeFailure& failure) {
    message = failure.what();
  }
  std::fflush(stderr);
  ::dup2(saved_stderr, 2);
  ::close(saved_stderr);
  std::fclose(sink);

  CHECK_THAT(message, Catch::Contains(path));
  CHECK_THAT(message, Catch::Contains("No such file or directory"));
  std::ifstream stderr_text(captured);
  CHECK(std::string(std::istreambuf_iterator<char>(stderr_text), {}).empty());
}

TEST_CASE("ResultsFile rejects misuse with messages naming the variable", "[io]") {
  ScratchFolder folder("misuse");
  ResultsFile file(folder.file("out.h5"));
  file.add_dimension("patient", std::vector<std::int64_t>{0, 1, 2}, "1", "patient index");
  const int weight = file.create_variable({"weight_kg", {"patient"}, ElementType::float64, "kg", "body weight"});
  const std::vector<float> floats(3, 1.0f);
  const std::vector<double> doubles(3, 1.0);

  CHECK_THROWS_WITH(file.write(weight, {0}, {3}, floats.data()),
                    Catch::Contains("weight_kg") && Catch::Contains("float64") && Catch::Contains("float32"));
  CHECK_THROWS_WITH(file.write(weight, {1}, {3}, doubles.data()), Catch::Contains("exceeds its length 3"));
  CHECK_THROWS_WITH(file.write(weight, {0, 0}, {3, 1}, doubles.data()), Catch::Contains("need 1 entries"));
  CHECK_THROWS_AS(file.write(weight + 1, {0}, {3}, doubles.data()), RuntimeFailure);
  CHECK_THROWS_WITH(file.create_variable({"x", {"visit"}, ElementType::float32, "1", "x"}),
                    Catch::Contains("unknown dimension 'visit'"));
  CHECK_THROWS_WITH(file.create_variable({"y", {"patient"}, ElementType::float32, "", "y"}),
                    Catch::Contains("units and long_name are required"));
  CHECK_THROWS_WITH(file.create_variable({"weight_kg", {"patient"}, ElementType::float64, "kg", "again"}),
                    Catch::Contains("already exists"));
  VariableSpec flags{"status", {"patient"}, ElementType::int8, "1", "status"};
  flags.flag_values = {0, 1, 300};
  flags.flag_meanings = "ok failed odd";
  CHECK_THROWS_WITH(file.create_variable(flags), Catch::Contains("300"));
  flags.flag_values = {0, 1};
  CHECK_THROWS_WITH(file.create_variable(flags), Catch::Contains("one word per flag value"));
}

TEST_CASE("ResultsFile closes every HDF5 identifier it opens", "[io]") {
  ScratchFolder folder("leaks");
  const long before = open_hdf5_object_count();
  {
    ResultsFile file(folder.file("committed.h5"));
    write_sample_file(file);
    file.commit();
  }
  CHECK(open_hdf5_object_count() == before);
  {
    ResultsFile file(folder.file("abandoned.h5"));
    write_sample_file(file);
  }
  CHECK(open_hdf5_object_count() == before);
}

// The readers users rely on (spec 3). Skipped where Debian's Python or R packages are not installed.
TEST_CASE("Results files open in xarray (h5netcdf, netcdf4), h5py, hdf5r and ncdf4", "[io][readers]") {
  ScratchFolder folder("readers");
  const std::string path = folder.file("results.h5");
  {
    ResultsFile file(path);
    write_sample_file(file);
    file.commit();
  }
  const std::string python_check =
      "import sys, numpy as np, xarray as xr, h5py\n"
      "for engine in ('h5netcdf', 'netcdf4'):\n"
      "    ds = xr.open_dataset(sys.argv[1], engine=engine).load()\n"
      "    assert ds.time.dtype == np.float64 and ds.time.attrs['units'] == 'h', engine\n"
      "    assert list(ds.arm.values) == ['placebo', 'ketamine 0.5 mg/kg \\u00b5'], engine\n"
      "    assert ds.conc_ketamine.dims == ('arm', 'patient', 'time'), engine\n"
      "    assert float(ds.conc_ketamine[1, 2, 3]) == 123.25, engine\n"
      "    assert ds.sex.attrs['flag_meanings'] == 'male female', engine\n"
      "    assert ds.attrs['software'] == 'ketasim' and ds.attrs['seed'] == 1234567890123, engine\n"
      "    assert list(ds.conc_ketamine.attrs) == ['units', 'long_name', 'moiety', 'comment'], engine\n"
      "    assert np.isnan(ds.conc_ketamine.encoding['_FillValue']), engine\n"
      "with h5py.File(sys.argv[1], 'r') as f:\n"
      "    assert f.attrs['software'] == 'ketasim'\n"
      "    assert [d.keys() for d in f['conc_ketamine'].dims] == [['arm'], ['patient'], ['time']]\n";
  const std::string r_check =
      "p <- commandArgs(TRUE)[1]; suppressMessages({library(hdf5r); library(ncdf4)});"
      "f <- H5File$new(p, mode = 'r'); stopifnot(h5attr(f[['conc_ketamine']], 'units') == 'ng/mL');"
      "stopifnot(all(dim(f[['conc_ketamine']]$read()) == c(4, 7, 2))); f$close_all();"
      "nc <- nc_open(p); x <- ncvar_get(nc, 'conc_ketamine'); stopifnot(x[4, 3, 2] == 123.25);"
      "stopifnot(ncvar_get(nc, 'arm')[1] == 'placebo'); nc_close(nc)";
  const std::string script = folder.file("check.py");
  std::ofstream(script) << python_check;
  const std::string rscript = folder.file("check.R");
  std::ofstream(rscript) << r_check;

  if (std::system("/usr/bin/python3 -c 'import xarray, h5netcdf, netCDF4, h5py' >/dev/null 2>&1") == 0) {
    CHECK(std::system(("/usr/bin/python3 -W ignore " + script + " " + path).c_str()) == 0);
  } else {
    WARN("skipped: Debian python3-xarray/h5netcdf/netcdf4/h5py not installed");
  }
  if (std::system("Rscript -e 'library(hdf5r); library(ncdf4)' >/dev/null 2>&1") == 0) {
    CHECK(std::system(("Rscript " + rscript + " " + path).c_str()) == 0);
  } else {
    WARN("skipped: r-cran-hdf5r/r-cran-ncdf4 not installed");
  }
}

namespace {
// Two variables of the same shape and chunking: one written through HDF5's own filter pipeline
// (the independent reference), one with chunks shuffled and deflated by encode_chunk, including
// a short edge chunk padded as the engine pads its last batch. Both must read back equal, byte
// for byte.
template <class T>
void check_encoded_chunks_read_back(ElementType type, hid_t memory_type, T (*value)(hsize_t, hsize_t, hsize_t)) {
  const fs::path folder = fs::temp_directory_path() / ("ketasim-encoded-" + std::to_string(getpid()));
  fs::create_directories(folder);
  const std::string path = (folder / "encoded.h5").string();
  const hsize_t arms = 2, patients = 7, times = 5, chunk_patients = 3;
  std::vector<T> values(arms * patients * times);
  for (hsize_t a = 0; a < arms; ++a)
    for (hsize_t p = 0; p < patients; ++p)
      for (hsize_t t = 0; t < times; ++t) values[(a * patients + p) * times + t] = value(a, p, t);
  {
    ResultsFile file(path);
    file.add_label_dimension("arm", {"a", "b"}, "arm");
    file.add_dimension("patient", std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6}, "1", "patient");
    file.add_dimension("time", std::vector<double>{0, 1, 2, 3, 4}, "h", "time");
    VariableSpec spec("filtered", {"arm", "patient", "time"}, type, "1", "filtered");
    spec.chunk_patients = chunk_patients;
    const int filtered = file.create_variable(spec);
    spec.name = "encoded";
    const int encoded = file.create_variable(spec);
    REQUIRE(file.chunk_shape(encoded) == std::vector<hsize_t>{arms, chunk_patients, times});
    file.write(filtered, {0, 0, 0}, {arms, patients, times}, values.data());
    std::vector<unsigned char> scratch, bytes;
    for (hsize_t first = 0; first < patients; first += chunk_patients) {
      std::vector<T> chunk(arms * chunk_patients * times, T{});
      for (hsize_t a = 0; a < arms; ++a)
        for (hsize_t p = first; p < std::min(patients, first + chunk_patients); ++p)
          for (hsize_t t = 0; t < times; ++t)
            chunk[(a * chunk_patients + (p - first)) * times + t] = values[(a * patients + p) * times + t];
      ResultsFile::encode_chunk(chunk.data(), chunk.size(), scratch, bytes);
      file.write_encoded_chunk(encoded, {0, first, 0}, bytes);
    }
    REQUIRE_THROWS_AS(file.write_encoded_chunk(encoded, {0, 1, 0}, bytes), RuntimeFailure);  // not a chunk boundary
    file.commit();
  }
  Hdf5Handle f{H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
  Hdf5Handle a{H5Dopen2(f.get(), "filtered", H5P_DEFAULT), H5Dclose};
  Hdf5Handle b{H5Dopen2(f.get(), "encoded", H5P_DEFAULT), H5Dclose};
  const auto expected = read_all<T>(a.get(), memory_type);
  const auto actual = read_all<T>(b.get(), memory_type);
  REQUIRE(expected.size() == actual.size());
  CHECK(std::memcmp(actual.data(), expected.data(), actual.size() * sizeof(T)) == 0);
  fs::remove_all(folder);
}
}  // namespace

TEST_CASE("Chunks encoded in parallel read back exactly like the dataset's own filters", "[io]") {
  // Every element size the engine writes per patient: float32 (concentrations, MADRS), float64
  // (NCA, times, parameters), int8 (flags, status). Values vary in every byte, so a byte plane
  // taken from the wrong place changes them.
  SECTION("float32") {
    check_encoded_chunks_read_back<float>(ElementType::float32, H5T_NATIVE_FLOAT, [](hsize_t a, hsize_t p, hsize_t t) {
      return static_cast<float>(sample_concentration_ng_per_ml(a, p, t));
    });
  }
  SECTION("float64") {
    check_encoded_chunks_read_back<double>(ElementType::float64, H5T_NATIVE_DOUBLE, [](hsize_t a, hsize_t p, hsize_t t) {
      return std::exp(0.37 * static_cast<double>(t) - 1.3 * static_cast<double>(p)) * (a ? -1.0 : 1.0) + 1e-300 * t;
    });
  }
  SECTION("int8") {
    check_encoded_chunks_read_back<std::int8_t>(ElementType::int8, H5T_NATIVE_SCHAR, [](hsize_t a, hsize_t p, hsize_t t) {
      return static_cast<std::int8_t>(static_cast<int>((a * 31 + p * 7 + t * 3) % 256) - 128);
    });
  }
}

TEST_CASE("An encoded chunk is a standard zlib stream of the shuffled bytes, decoded exactly", "[io]") {
  // encode_chunk compresses with libdeflate; HDF5's deflate filter and every other reader inflate
  // with zlib. Decode with zlib's own uncompress, undo the shuffle, and compare the bytes: every
  // value, NaN payloads, -0, infinities and denormals included. Sizes: empty-ish, odd, one byte
  // plane longer than zlib's 32 KiB window, and the engine's P1 chunk (64 patients x 2017 times).
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> u(0.0f, 50.0f);
  for (std::size_t n : {1u, 7u, 1000u, 20000u, 64u * 2017u}) {
    std::vector<float> values(n);
    for (std::size_t i = 0; i < n; ++i) values[i] = i % 97 == 0 ? 0.0f : u(rng) * std::exp(-0.001f * (i % 2017));
    const float specials[] = {NAN, -0.0f, INFINITY, -INFINITY, 1e-42f, -NAN};
    for (std::size_t k = 0; k < std::size(specials) && k < n; ++k) values[(k * 7919) % n] = specials[k];
    std::vector<unsigned char> scratch, encoded;
    ResultsFile::encode_chunk(values.data(), n, scratch, encoded);
    INFO(n << " values, " << encoded.size() << " bytes encoded");
    std::vector<unsigned char> shuffled(n * sizeof(float));
    uLongf size = static_cast<uLongf>(shuffled.size());
    REQUIRE(uncompress(shuffled.data(), &size, encoded.data(), static_cast<uLong>(encoded.size())) == Z_OK);
    REQUIRE(size == shuffled.size());
    std::vector<unsigned char> bytes(n * sizeof(float));
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t k = 0; k < sizeof(float); ++k) bytes[i * sizeof(float) + k] = shuffled[k * n + i];
    CHECK(std::memcmp(bytes.data(), values.data(), bytes.size()) == 0);
  }
  // float64 and one-byte elements (shuffle leaves one-byte elements as they are)
  std::vector<double> doubles(5003);
  for (std::size_t i = 0; i < doubles.size(); ++i) doubles[i] = std::ldexp(1.0 + i * 1e-4, static_cast<int>(i % 61) - 30);
  std::vector<unsigned char> scratch, encoded;
  ResultsFile::encode_chunk(doubles.data(), doubles.size(), scratch, encoded);
  std::vector<unsigned char> shuffled(doubles.size() * sizeof(double));
  uLongf size = static_cast<uLongf>(shuffled.size());
  REQUIRE(uncompress(shuffled.data(), &size, encoded.data(), static_cast<uLong>(encoded.size())) == Z_OK);
  REQUIRE(size == shuffled.size());
  std::vector<double> decoded(doubles.size());
  auto* out = reinterpret_cast<unsigned char*>(decoded.data());
  for (std::size_t i = 0; i < doubles.size(); ++i)
    for (std::size_t k = 0; k < sizeof(double); ++k) out[i * sizeof(double) + k] = shuffled[k * doubles.size() + i];
  CHECK(std::memcmp(decoded.data(), doubles.data(), shuffled.size()) == 0);
  std::vector<std::int8_t> flags(3001);
  for (std::size_t i = 0; i < flags.size(); ++i) flags[i] = static_cast<std::int8_t>(i % 3 == 0 ? -1 : i % 2);
  ResultsFile::encode_chunk(flags.data(), flags.size(), scratch, encoded);
  std::vector<std::int8_t> inflated(flags.size());
  size = static_cast<uLongf>(inflated.size());
  REQUIRE(uncompress(reinterpret_cast<Bytef*>(inflated.data()), &size, encoded.data(), static_cast<uLong>(encoded.size())) == Z_OK);
  CHECK(inflated == flags);
}

// Issue 14: nothing outside the output path is ever written, replaced or followed.
namespace {
std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
// A pid that certainly has no process: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}
}  // namespace

TEST_CASE("A planted link at the old predictable temporary name is not written through", "[io][robust]") {
  ScratchFolder folder("planted");
  const std::string path = folder.file("out.h5");
  const std::string victim = folder.file("victim.txt");
  std::ofstream(victim) << "precious";
  // 0900520 wrote to "<out>.tmp.<pid>" and followed a link there.
  fs::create_symlink(victim, path + ".tmp." + std::to_string(::getpid()));
  {
    ResultsFile file(path);
    CHECK_FALSE(fs::is_symlink(file.temporary_path()));
    write_sample_file(file);
    file.commit();
  }
  CHECK(read_all(victim) == "precious");
  CHECK(H5Fis_hdf5(path.c_str()) > 0);
}

TEST_CASE("Only a regular file is ever replaced at the output path", "[io][robust]") {
  ScratchFolder folder("special");
  const std::string other = folder.file("other.h5");
  std::ofstream(other) << "someone else's";
  SECTION("a named pipe") {
    const std::string path = folder.file("pipe.h5");
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    CHECK_THROWS_WITH(ResultsFile(path), Catch::Contains("not a regular file") && Catch::Contains("pipe.h5"));
    CHECK(fs::is_fifo(path));
  }
  SECTION("a symbolic link") {
    const std::string path = folder.file("link.h5");
    fs::create_symlink(other, path);
    CHECK_THROWS_WITH(ResultsFile(path), Catch::Contains("a symbolic link"));
    CHECK(fs::is_symlink(path));
    CHECK(read_all(other) == "someone else's");
  }
  SECTION("a device node (as root; what -o /dev/null would have replaced)") {
    const std::string path = folder.file("null.h5");
    if (::geteuid() != 0 || ::mknod(path.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
      WARN("not root: the device-node case is covered by the pipe and link cases");
      return;
    }
    CHECK_THROWS_WITH(ResultsFile(path), Catch::Contains("a device, pipe or socket"));
    CHECK(fs::is_character_file(path));
  }
  SECTION("a device node appearing while the run goes on") {
    const std::string path = folder.file("late.h5");
    ResultsFile file(path);
    write_sample_file(file);
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    CHECK_THROWS_AS(file.commit(), RuntimeFailure);
    CHECK(fs::is_fifo(path));
  }
  // Nothing left besides what was there and the special file itself.
  for (const auto& name : folder_entries(folder.path)) CHECK(name.find(".tmp.") == std::string::npos);
}

TEST_CASE("Temporary files of dead runs to the same path are removed, live ones and others are kept",
          "[io][robust]") {
  ScratchFolder folder("stale");
  const std::string path = folder.file("out.h5");
  const std::string dead = std::to_string(dead_pid());
  const std::string alive = std::to_string(::getpid());
  for (const std::string& name : {"out.h5.tmp." + dead + ".Ab3dE9", "out.h5.tmp." + dead, "out.h5.tmp." + alive + ".zzzzzz",
                                 "other.h5.tmp." + dead + ".Ab3dE9", "out.h5.tmp." + dead + ".seven77",
                                 "out.h5.tmp.x" + dead}) {
    std::ofstream(folder.file(name)) << "stale";
  }
  const std::string victim = folder.file("victim.txt");
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, folder.file("out.h5.tmp." + dead + ".LinkLk"));
  const auto removed = ResultsFile::remove_stale_temporaries(path);
  CHECK(removed.size() == 2);
  auto names = folder_entries(folder.path);
  std::sort(names.begin(), names.end());
  const std::vector<std::string> kept{"other.h5.tmp." + dead + ".Ab3dE9", "out.h5.tmp." + dead + ".LinkLk",
                                      "out.h5.tmp." + dead + ".seven77", "out.h5.tmp." + alive + ".zzzzzz",
                                      "out.h5.tmp.x" + dead, "victim.txt"};
  auto expected = kept;
  std::sort(expected.begin(), expected.end());
  CHECK(names == expected);
  CHECK(read_all(victim) == "precious");
  // The constructor does the same and says what it removed.
  std::ofstream(folder.file("out.h5.tmp." + dead + ".Qw12er")) << "stale";
  ResultsFile file(path);
  CHECK(file.removed_stale_temporaries() == std::vector<std::string>{folder.file("out.h5.tmp." + dead + ".Qw12er")});
}

TEST_CASE("commit hands the finished temporary file to the caller before the rename", "[io][robust]") {
  ScratchFolder folder("before");
  const std::string path = folder.file("out.h5");
  std::string seen;
  {
    ResultsFile file(path);
    write_sample_file(file);
    file.commit([&](const std::string& written) {
      seen = written;
      CHECK(written != path);
      CHECK_FALSE(fs::exists(path));
      CHECK(H5Fis_hdf5(written.c_str()) > 0);  // complete and closed
    });
  }
  CHECK_FALSE(seen.empty());
  CHECK_FALSE(fs::exists(seen));
  CHECK(fs::exists(path));
  // A failing reader keeps the file from taking the output path, and leaves nothing.
  const std::string second = folder.file("second.h5");
  {
    ResultsFile file(second);
    write_sample_file(file);
    CHECK_THROWS_AS(file.commit([](const std::string&) { throw RuntimeFailure("cannot read it back"); }), RuntimeFailure);
  }
  CHECK_FALSE(fs::exists(second));
  CHECK(folder_entries(folder.path) == std::vector<std::string>{"out.h5"});
}

TEST_CASE("An empty label is not written: the reader would refuse it as damage", "[io][results]") {
  const std::string path =
      (fs::temp_directory_path() / ("ketasim_empty_label_" + std::to_string(::getpid()) + ".h5")).string();
  ResultsFile file(path);
  CHECK_THROWS_WITH(file.add_label_dimension("arm", {"placebo", ""}, "treatment arm"), Catch::Contains("an empty label"));
  file.add_label_dimension("arm", {"placebo", "ketamine"}, "treatment arm");  // the file stays usable
}
