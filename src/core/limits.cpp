#include "ketasim/core/limits.hpp"

#include <sstream>

namespace ketasim::limits {

std::string format(double value) {
  std::ostringstream os;
  os.precision(12);
  os << value;
  return os.str();
}

std::string Range::text() const { return format(min) + " to " + format(max); }

}  // namespace ketasim::limits
