# Makes the man pages from the program's own help text with help2man, at
# build time: mapreduce.1 from `mapreduce --help`, and mapreduce-COMMAND.1
# from `mapreduce help COMMAND` for each command that `mapreduce --help`
# lists (so a new command gets its page without a change here).
# Usage: cmake -DPROGRAM=<mapreduce> -DHELP2MAN=<help2man> -DOUT=<folder>
#              -P man_pages.cmake
cmake_minimum_required(VERSION 3.25)
file(MAKE_DIRECTORY "${OUT}")
file(GLOB old_pages "${OUT}/*.1")  # of commands that may be gone
if(old_pages)
  file(REMOVE ${old_pages})
endif()
execute_process(COMMAND "${PROGRAM}" --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "${PROGRAM} --help failed (${rc})")
endif()

# "  NAME   description" lines of the "Commands:" paragraph.
string(REGEX MATCH "\nCommands:\n([^\n]+\n)+" list "${help}")
string(REGEX MATCHALL "\n  [a-z]+ +[^\n]+" lines "${list}")
set(see_also "")
set(commands "")
foreach(line ${lines})
  string(REGEX MATCH "^\n  ([a-z]+) +(.*)$" _ "${line}")
  set(name "${CMAKE_MATCH_1}")
  if(name STREQUAL "help")
    continue()
  endif()
  list(APPEND commands "${name}")
  set(description_${name} "${CMAKE_MATCH_2}")
  string(APPEND see_also ".BR mapreduce-${name} (1),\n")
endforeach()
if(NOT commands)
  message(FATAL_ERROR "no commands found in the output of ${PROGRAM} --help")
endif()

# help2man, with an include file for the sections that --help lacks (a
# [NAME] there names the page, mapreduce-COMMAND, and titles it).
function(make_page page help_option version_option include)
  file(WRITE "${OUT}/${page}.h2m" "${include}")
  execute_process(
    COMMAND "${HELP2MAN}" --no-info --section=1 "--help-option=${help_option}"
            "--version-option=${version_option}" "--include=${OUT}/${page}.h2m"
            "--output=${OUT}/${page}.1" "${PROGRAM}"
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  file(REMOVE "${OUT}/${page}.h2m")
  if(rc)
    message(FATAL_ERROR "help2man for ${page}.1 failed: ${err}")
  endif()
endfunction()

string(REGEX REPLACE ",\n$" "\n" see_also_main "${see_also}")
make_page(mapreduce --help --version
          "[NAME]\nmapreduce \\- MapReduce jobs on one machine's cores\n[SEE ALSO]\n${see_also_main}")
foreach(name ${commands})
  string(REGEX REPLACE " \\(.*$" "" summary "${description_${name}}")
  make_page(mapreduce-${name} "help ${name}" "${name} --version"
            "[NAME]\nmapreduce-${name} \\- ${summary}\n[SEE ALSO]\n.BR mapreduce (1)\n")
endforeach()
