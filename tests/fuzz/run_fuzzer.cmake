# One bounded libFuzzer run (the ctest `fuzz.<name>`), as `cmake -P` so ctest needs no shell:
#   FUZZER NAME CORPUS REGRESSIONS DICT WORK_DIR SECONDS RSS_LIMIT_MB TIMEOUT
# The checked-in corpus is copied to a scratch directory first (libFuzzer adds inputs to the first
# corpus directory it is given, and the source tree must not change under a test run); the
# regressions are passed as a second, read-only seed directory. A crash, leak, timeout or
# out-of-memory input is written to WORK_DIR/artifacts/ and fails the test: turn it into a
# regression with `cp WORK_DIR/artifacts/crash-... tests/fuzz/regressions/NAME/<what-it-found>`.
foreach(var FUZZER NAME CORPUS REGRESSIONS WORK_DIR SECONDS RSS_LIMIT_MB TIMEOUT)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_fuzzer.cmake: -D${var}=... is required")
  endif()
endforeach()

set(scratch ${WORK_DIR}/corpus)
set(artifacts ${WORK_DIR}/artifacts)
file(REMOVE_RECURSE ${scratch})
file(MAKE_DIRECTORY ${scratch} ${artifacts})
if(IS_DIRECTORY ${CORPUS})
  file(GLOB seeds ${CORPUS}/*)
  if(seeds)
    file(COPY ${seeds} DESTINATION ${scratch})
  endif()
endif()

set(args -max_total_time=${SECONDS} -timeout=${TIMEOUT} -rss_limit_mb=${RSS_LIMIT_MB}
    -artifact_prefix=${artifacts}/ -print_final_stats=1)
if(DICT)
  list(APPEND args -dict=${DICT})
endif()
set(dirs ${scratch})
if(IS_DIRECTORY ${REGRESSIONS})
  list(APPEND dirs ${REGRESSIONS})
endif()

message(STATUS "fuzz.${NAME}: ${FUZZER} ${args} ${dirs}")
execute_process(COMMAND ${FUZZER} ${args} ${dirs} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(GLOB found ${artifacts}/*)
  message(FATAL_ERROR "fuzz.${NAME}: libFuzzer exited with ${rc}; reproducer(s): ${found}\n"
                      "Reproduce: ${FUZZER} <file>; keep it as a regression in "
                      "tests/fuzz/regressions/${NAME}/ (named after what it found).")
endif()
