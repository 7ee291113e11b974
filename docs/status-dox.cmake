# Writes OUT (a Doxygen .dox file) documenting each status code that include/procpool.h
# generates with its X-macro PP_STATUS_MAP: XX(NAME, value, "text") lines give
# "@var PP_NAME text". Doxygen cannot take documentation out of a macro expansion, so the
# codes' texts are carried over this way. A header without PP_STATUS_MAP gives an empty file.
# usage: cmake -DHEADER=include/procpool.h -DOUT=build/docs/status.dox -P docs/status-dox.cmake
file(READ "${HEADER}" h)
set(out "/* Generated from ${HEADER} by docs/status-dox.cmake: do not edit. */\n")
string(REGEX MATCHALL "XX\\( *[A-Za-z0-9_]+ *,[^,\n]*, *\"([^\"\\\\]|\\\\.)*\" *\\)" entries "${h}")
foreach(e IN LISTS entries)
  string(REGEX REPLACE "XX\\( *([A-Za-z0-9_]+) *,.*" "\\1" name "${e}")
  string(REGEX REPLACE "[^\"]*\"(.*)\" *\\)$" "\\1" text "${e}")
  string(REPLACE "\\\"" "\"" text "${text}")
  if(NOT name MATCHES "^PP_")
    set(name "PP_${name}")
  endif()
  string(APPEND out "/** @var ${name}\n * ${text} */\n")
endforeach()
file(WRITE "${OUT}.tmp" "${out}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
