#include <ostream>

#include "commands.hpp"
#include "ketasim/core/error.hpp"

namespace ketasim::cli {
int run_command(trial::StudyConfig, const RunOptions&, std::ostream&) { throw RuntimeFailure("run: not yet built"); }
int summary_command(const std::string&, std::ostream&) { throw RuntimeFailure("summary: not yet built"); }
}  // namespace ketasim::cli
