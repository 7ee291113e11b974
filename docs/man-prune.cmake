# Doxygen's MAN_LINKS gives every documented name a page in man3/, struct fields too (data.3,
# len.3, pid.3, ...): keep only the API's names (pp_*, PP_*, PROCPOOL_*, procpool.h.3).
# usage: cmake -DMAN3=build/docs/man/man3 -P docs/man-prune.cmake
file(GLOB pages RELATIVE "${MAN3}" "${MAN3}/*.3")
foreach(p IN LISTS pages)
  if(NOT p MATCHES "^(pp_|PP_|PROCPOOL_|procpool)")
    file(REMOVE "${MAN3}/${p}")
  endif()
endforeach()
