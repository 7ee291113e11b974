# The test of examples/thumbnails.c (ctest example_thumbnails): make its input with make_pngs
# (34 valid PNGs, 3 corrupt files, 1 that crashes the decoder, 2 that hang it: 40 files),
# run it with 2 workers and a time limit of 1 s per file, and check what a user would:
# - exit status 1 (some files failed) and the summary "ok 34, corrupt 3, crashed 1, hung 2,
#   other 0", with each failure reported under its kind (PP_ETASK, PP_EWORKERDIED,
#   PP_ETIMELIMIT);
# - every valid input has a thumbnail of the right size and color (make_pngs check);
# - no process runs the thumbnails program any more once it has exited (make_pngs procs;
#   Linux only; it waits up to 5 s, for a forkserver to notice): the workers it started,
#   including the killed and replaced ones, are gone.
# usage: cmake -DTHUMBNAILS=exe -DMAKE_PNGS=exe -DDIR=scratch [-DMETHOD=spawn|forkserver]
#        [-DEMULATOR=wine] -P thumbnails-test.cmake
foreach(v THUMBNAILS MAKE_PNGS DIR)
  if(NOT ${v})
    message(FATAL_ERROR "thumbnails-test: no ${v}")
  endif()
endforeach()
if(NOT METHOD)
  set(METHOD spawn)
endif()
set(valid 34)
set(size 64)

file(REMOVE_RECURSE ${DIR})
file(MAKE_DIRECTORY ${DIR}/in)

function(run)
  execute_process(COMMAND ${EMULATOR} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
    ERROR_VARIABLE err TIMEOUT 120)
  message("+ ${ARGN}\n${out}${err}")
  set(rc "${rc}" PARENT_SCOPE)
  set(out "${out}" PARENT_SCOPE)
endfunction()

run(${MAKE_PNGS} gen ${DIR}/in ${valid})
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "thumbnails-test: make_pngs gen failed (${rc})")
endif()

run(${THUMBNAILS} -j 2 -t 1000 -s ${size} -m ${METHOD} ${DIR}/in ${DIR}/out)
if(NOT rc STREQUAL "1")
  message(FATAL_ERROR "thumbnails-test: thumbnails exited with '${rc}', expected 1 (some "
    "files failed)")
endif()
string(REPLACE "\r\n" "\n" out "${out}")
if(NOT out MATCHES "\nok ([0-9]+), corrupt ([0-9]+), crashed ([0-9]+), hung ([0-9]+), other ([0-9]+)\n$")
  message(FATAL_ERROR "thumbnails-test: no summary line at the end of the output")
endif()
set(got "${CMAKE_MATCH_1} ${CMAKE_MATCH_2} ${CMAKE_MATCH_3} ${CMAKE_MATCH_4} ${CMAKE_MATCH_5}")
if(NOT got STREQUAL "${valid} 3 1 2 0")
  message(FATAL_ERROR "thumbnails-test: ok, corrupt, crashed, hung, other = ${got}; "
    "expected ${valid} 3 1 2 0")
endif()
# Each failure under its kind, with its status, the call's work id and worker, and for the
# corrupt ones libpng's message.
set(w "\\(work [0-9]+, worker [0-9]+\\)")
foreach(line
    "  corrupt bad-crc.png: PP_ETASK ${w}: libpng: IDAT: CRC error"
    "  corrupt bad-random.png: PP_ETASK ${w}: libpng: Not a PNG file"
    "  corrupt bad-truncated.png: PP_ETASK ${w}: libpng: "
    "  crashed test-crash.png: PP_EWORKERDIED ${w}: "
    "  hung    test-hang-hard.png: PP_ETIMELIMIT ${w}: "
    "  hung    test-hang.png: PP_ETIMELIMIT ${w}: ")
  if(NOT out MATCHES "\n${line}")
    message(FATAL_ERROR "thumbnails-test: no line matching '${line}' in the output")
  endif()
endforeach()

run(${MAKE_PNGS} check ${DIR}/in ${DIR}/out ${size})
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "thumbnails-test: some thumbnails are missing or wrong")
endif()

run(${MAKE_PNGS} procs ${THUMBNAILS})
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "thumbnails-test: processes of thumbnails remain after it exited")
endif()
message("thumbnails-test: passed")
