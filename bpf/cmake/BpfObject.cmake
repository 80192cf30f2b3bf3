# Builds CO-RE BPF objects and their bpftool skeletons.
#
#   ta_bpf_object(NAME tc_capture SOURCE tc_capture.bpf.c)
#
# produces ${NAME}.bpf.o, ${NAME}.skel.h and an INTERFACE library `bpf_${NAME}` that a C++
# target links to get the skeleton header on its include path (plus libbpf).
#
# vmlinux.h: by default it is generated at build time from the build host's
# /sys/kernel/btf/vmlinux with `bpftool btf dump ... format c`. CO-RE makes the object portable
# regardless of which kernel's BTF produced the header: every field access is recorded as a
# relocation that libbpf resolves against the *target* kernel's BTF at load time, so the header
# only has to name the types, not pin their layout. Generating it (instead of committing a 3 MB
# file) keeps type names in step with the kernels we actually build and test on. Build hosts
# without BTF set -DTA_VMLINUX_H=/path/to/vmlinux.h to a pinned copy.

find_program(BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

set(TA_VMLINUX_H "" CACHE FILEPATH "Pinned vmlinux.h; empty = generate from /sys/kernel/btf/vmlinux")
set(TA_BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf-gen)
file(MAKE_DIRECTORY ${TA_BPF_GEN_DIR})

if(TA_VMLINUX_H)
  configure_file(${TA_VMLINUX_H} ${TA_BPF_GEN_DIR}/vmlinux.h COPYONLY)
  add_custom_target(ta_vmlinux_h)
else()
  if(NOT EXISTS /sys/kernel/btf/vmlinux)
    message(FATAL_ERROR "/sys/kernel/btf/vmlinux is missing: this kernel was built without "
                        "CONFIG_DEBUG_INFO_BTF. Pass -DTA_VMLINUX_H=<pinned vmlinux.h>.")
  endif()
  add_custom_command(
    OUTPUT ${TA_BPF_GEN_DIR}/vmlinux.h
    COMMAND ${BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c > ${TA_BPF_GEN_DIR}/vmlinux.h
    COMMENT "Generating vmlinux.h from /sys/kernel/btf/vmlinux"
    VERBATIM)
  add_custom_target(ta_vmlinux_h DEPENDS ${TA_BPF_GEN_DIR}/vmlinux.h)
endif()

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(TA_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(TA_BPF_ARCH arm64)
else()
  message(FATAL_ERROR "unsupported architecture for BPF build: ${CMAKE_SYSTEM_PROCESSOR}")
endif()

function(ta_bpf_object)
  cmake_parse_arguments(ARG "" "NAME;SOURCE" "DEPENDS" ${ARGN})
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${ARG_SOURCE})
  set(obj ${TA_BPF_GEN_DIR}/${ARG_NAME}.bpf.o)
  set(skel ${TA_BPF_GEN_DIR}/${ARG_NAME}.skel.h)
  file(GLOB bpf_headers ${CMAKE_CURRENT_SOURCE_DIR}/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -target bpf -g -O2 -D__TARGET_ARCH_${TA_BPF_ARCH}
            -Wall -Wextra -Werror -Wno-unused-parameter
            -I${TA_BPF_GEN_DIR} -I${CMAKE_CURRENT_SOURCE_DIR}
            -c ${src} -o ${obj}
    DEPENDS ${src} ${bpf_headers} ta_vmlinux_h ${TA_BPF_GEN_DIR}/vmlinux.h ${ARG_DEPENDS}
    COMMENT "BPF ${ARG_SOURCE}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${ARG_NAME} > ${skel}
    DEPENDS ${obj}
    COMMENT "Skeleton ${ARG_NAME}.skel.h"
    VERBATIM)
  add_custom_target(${ARG_NAME}_skel DEPENDS ${skel})
  add_library(bpf_${ARG_NAME} INTERFACE)
  add_dependencies(bpf_${ARG_NAME} ${ARG_NAME}_skel)
  target_include_directories(bpf_${ARG_NAME} SYSTEM INTERFACE ${TA_BPF_GEN_DIR})
  target_include_directories(bpf_${ARG_NAME} INTERFACE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(bpf_${ARG_NAME} INTERFACE PkgConfig::LIBBPF)
  set_property(TARGET bpf_${ARG_NAME} PROPERTY TA_BPF_OBJECT ${obj})
endfunction()
