# Warning set shared by every target (Redis/libevent lists). -Wmissing-prototypes forces
# `static` on everything file-private.
set(FIXLUA_WARNINGS
  -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow -Wundef
  -Wwrite-strings -Wvla -Wno-unused-parameter)
if(FIXLUA_WERROR)
  list(APPEND FIXLUA_WARNINGS -Werror)
endif()
add_compile_options(${FIXLUA_WARNINGS})
