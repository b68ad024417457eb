# -DFIXLUA_SANITIZE=address,undefined: instrument every target, stop at the first report.
if(FIXLUA_SANITIZE)
  set(_san -fsanitize=${FIXLUA_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_compile_options(${_san})
  add_link_options(${_san})
endif()
