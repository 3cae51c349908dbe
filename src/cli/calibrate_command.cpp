#include <ostream>

#include "commands.hpp"
#include "ketasim/core/error.hpp"

namespace ketasim::cli {
int calibrate_command(const std::string&, std::ostream&) { throw RuntimeFailure("calibrate: not yet built"); }
}  // namespace ketasim::cli
