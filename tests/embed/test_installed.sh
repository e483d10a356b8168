#!/bin/bash
# Installs the build into a prefix and builds a host against what was installed, and nothing
# else: the C test through `pkg-config sluice` (C99, pedantic, warnings as errors), then a CMake
# project through find_package(sluice). Both programs are run. The packetFlow host app is built
# the pkg-config way too, and kept with the prefix in BUILD_DIR/embed-installed/ for
# integration/test_embed_netns.sh (a ctest fixture) to run against wireguard-go.
# Usage: test_installed.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source=$2
stage=$(mktemp -d /tmp/sluice-installed.XXXXXX)
trap 'rm -rf "$stage"' EXIT
kept=$build/embed-installed
rm -rf "$kept"
mkdir -p "$kept"

cmake --install "$build" --prefix "$kept/prefix" > "$stage/install.log"
pc=$(dirname "$(find "$kept/prefix" -name sluice.pc)")
libdir=$(dirname "$(find "$kept/prefix" -name 'libsluice-embed.so')")
test -f "$kept/prefix/include/sluice/module.modulemap"
# Which outer socket the library was built with decides one expectation of the C test.
darwin_udp=0
grep -qx 'SLUICE_EMBED_DARWIN_UDP:BOOL=ON' "$build/CMakeCache.txt" && darwin_udp=1

# The test source is copied away from the tree so that no header but the installed one is near.
cp "$source/tests/embed/test_embed_tunnel.c" "$source/tests/embed/check.h" "$stage/"
cc -std=c99 -Wall -Wextra -Werror -pedantic -DSLUICE_TEST_EMBED_DARWIN_UDP=$darwin_udp "$stage/test_embed_tunnel.c" \
  $(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs sluice) -lpthread \
  -Wl,-rpath,"$libdir" -o "$stage/with_pkg_config"
"$stage/with_pkg_config" 100

# The packetFlow host app: integration/test_embed_netns.sh runs it (it needs root and
# namespaces); here it has to build from the installed package and refuse to run without
# arguments.
cp "$source/tests/embed/packetflow_host.c" "$stage/"
cc -std=c99 -Wall -Wextra -Werror -pedantic "$stage/packetflow_host.c" \
  $(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs sluice) -lpthread \
  -Wl,-rpath,"$libdir" -o "$kept/packetflow_host"
status=0
"$kept/packetflow_host" 2> "$stage/usage.txt" || status=$?
test "$status" -eq 2
grep -q "usage: embed_packetflow_host" "$stage/usage.txt"

mkdir -p "$stage/project"
cp "$stage/test_embed_tunnel.c" "$stage/check.h" "$stage/project/"
cat > "$stage/project/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(host LANGUAGES C)
find_package(sluice 0.1 REQUIRED)
find_package(Threads REQUIRED)
add_executable(host test_embed_tunnel.c)
set_target_properties(host PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(host PRIVATE -Wall -Wextra -Werror -pedantic)
target_compile_definitions(host PRIVATE SLUICE_TEST_EMBED_DARWIN_UDP=${DARWIN_UDP})
target_link_libraries(host PRIVATE sluice::sluice Threads::Threads)
CMAKE
cmake -S "$stage/project" -B "$stage/project/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$kept/prefix" -DDARWIN_UDP=$darwin_udp > "$stage/configure.log"
ninja -C "$stage/project/build" -j1 > "$stage/build.log"
"$stage/project/build/host" 100
echo "installed package: ok"
