# readme_next_block(TEXT LANG FOUND BODY REST): finds the first block fenced
# as ```LANG in TEXT (a Markdown text). FOUND is TRUE or FALSE; BODY is the
# block's body with its last newline, REST the text after it. A block that
# is not closed is a fatal error. Used by ReadmeExample.cmake and
# tests/readme/CMakeLists.txt.
function(readme_next_block text lang found_out body_out rest_out)
  set(${found_out} FALSE PARENT_SCOPE)
  string(FIND "${text}" "\n```${lang}\n" start)
  if(start EQUAL -1)
    return()
  endif()
  string(LENGTH "\n```${lang}\n" skip)
  math(EXPR start "${start} + ${skip}")
  string(SUBSTRING "${text}" ${start} -1 rest)
  string(FIND "${rest}" "\n```\n" end)
  if(end EQUAL -1)
    message(FATAL_ERROR "README.md: unterminated ```${lang} block")
  endif()
  math(EXPR end "${end} + 1")  # keep the body's last newline
  string(SUBSTRING "${rest}" 0 ${end} body)
  string(SUBSTRING "${rest}" ${end} -1 rest)
  set(${found_out} TRUE PARENT_SCOPE)
  set(${body_out} "${body}" PARENT_SCOPE)
  set(${rest_out} "${rest}" PARENT_SCOPE)
endfunction()
