# Runs a program and checks it the way a person reading its output would: it must exit with
# status 0 and print the expected lines, in that order, at the start of its output.
# usage: cmake -DEXE=prog [-DARGS="arg1 arg2"] [-DEMULATOR=wine] -DEXPECT="line 1|line 2|..."
#        -P run-check.cmake
if(NOT EXE)
  message(FATAL_ERROR "run-check: no EXE")
endif()
separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${EMULATOR} ${EXE} ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out
  ERROR_VARIABLE err TIMEOUT 110)
message("${out}${err}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "run-check: ${EXE} exited with '${rc}'")
endif()
string(REPLACE "\r\n" "\n" out "${out}")
string(REPLACE "|" "\n" want "${EXPECT}")
string(LENGTH "${want}\n" n)
string(SUBSTRING "${out}" 0 ${n} head)
if(NOT head STREQUAL "${want}\n")
  message(FATAL_ERROR "run-check: ${EXE} printed\n${out}\nexpected it to begin with\n${want}")
endif()
message("run-check: ${EXE}: exit 0, expected output")
