# README.md names only files a reader can open: a header as the installed
# package has it (`mr/<layer>/x.h`, which must be a public header, never the
# source-tree path framework/<layer>/include/...), anything else by a path
# that exists in the source tree.
# Usage: cmake -DROOT=<source dir> -P check_paths.cmake
file(READ ${ROOT}/README.md readme)
string(REGEX MATCHALL "`[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/?`" quoted "${readme}")
set(bad "")
foreach(q ${quoted})
  string(REGEX REPLACE "^`|`$" "" path "${q}")
  if(NOT path MATCHES "/")
    continue()  # a word, not a path
  endif()
  if(path MATCHES "^mr/([a-z_]+)/")
    if(NOT EXISTS ${ROOT}/framework/${CMAKE_MATCH_1}/include/${path})
      list(APPEND bad "${path} (not an installed header)")
    endif()
  elseif(path MATCHES "^framework/[a-z_]+/include/")
    list(APPEND bad "${path} (name it as installed: mr/...)")
  elseif(path MATCHES "^(cli|cmake|data|docs|examples|framework|fuzz|jobs|scripts|tests|bench)/")
    if(NOT EXISTS ${ROOT}/${path})
      list(APPEND bad "${path} (not in the source tree)")
    endif()
  endif()
endforeach()
if(bad)
  list(JOIN bad "\n  " text)
  message(FATAL_ERROR "README.md names files a reader cannot open:\n  ${text}")
endif()
message(STATUS "README.md: every path it names is there")
