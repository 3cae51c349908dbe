# Writes the provenance header (include/ketasim/version.hpp.in -> OUTPUT) with the current git
# commit. Run by the ketasim_version target at every build, not only at configure time: a commit
# made after the last `cmake` must not leave results files naming the commit before it.
# configure_file rewrites OUTPUT only when its text changes, so an unchanged commit rebuilds nothing.
# Inputs (-D): SOURCE_DIR, OUTPUT, PROJECT_VERSION.
execute_process(COMMAND git rev-parse --short=12 HEAD
                WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE KETASIM_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE rev_status ERROR_QUIET)
if(NOT rev_status EQUAL 0 OR NOT KETASIM_GIT_COMMIT)
  set(KETASIM_GIT_COMMIT "unknown")
else()
  # Tracked files that differ from the commit: the binary is not that commit's code, so say so.
  execute_process(COMMAND git status --porcelain --untracked-files=no
                  WORKING_DIRECTORY ${SOURCE_DIR}
                  OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(changes)
    string(APPEND KETASIM_GIT_COMMIT "-dirty")
  endif()
endif()
configure_file(${SOURCE_DIR}/include/ketasim/version.hpp.in ${OUTPUT} @ONLY)
