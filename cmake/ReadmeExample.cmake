# Fails when a README section does not show a project's files verbatim: its
# first ```cmake block must equal DIR/CMakeLists.txt and its first ```cpp
# block DIR/SOURCE. Keeps the README's examples the code CI builds.
# Usage: cmake -DROOT=<source dir> "-DHEADING=<section title>" -DDIR=<folder>
#              -DSOURCE=<file> -P ReadmeExample.cmake
file(READ ${ROOT}/README.md readme)
set(heading "## ${HEADING}\n")
string(FIND "${readme}" "${heading}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md: no section \"${heading}\"")
endif()
string(SUBSTRING "${readme}" ${at} -1 section)

include(${CMAKE_CURRENT_LIST_DIR}/ReadmeBlocks.cmake)

# The body of the first block fenced as ```<lang> in the section.
function(fenced_block lang out)
  readme_next_block("${section}" ${lang} found body rest)
  if(NOT found)
    message(FATAL_ERROR "README.md: no ```${lang} block in the section")
  endif()
  set(${out} "${body}" PARENT_SCOPE)
endfunction()

set(failed FALSE)
foreach(pair "cmake;CMakeLists.txt" "cpp;${SOURCE}")
  list(GET pair 0 lang)
  list(GET pair 1 name)
  fenced_block(${lang} shown)
  file(READ ${ROOT}/${DIR}/${name} actual)
  if(NOT shown STREQUAL actual)
    message(SEND_ERROR "README.md's ```${lang} block differs from ${DIR}/${name}; "
                       "copy the file into the README section \"${HEADING}\"")
    set(failed TRUE)
  endif()
endforeach()
if(NOT failed)
  message(STATUS "README example matches ${DIR}/")
endif()
