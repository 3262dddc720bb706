#!/usr/bin/env bash
# Makes the root filesystem the test image is built on, without a registry: a jlink'ed JDK 25 at the
# path the official eclipse-temurin images use (/opt/java/openjdk), the C libraries it links
# against copied from this machine (Debian's glibc), a passwd entry for the non-root user, and /tmp.
# Usage: make-local-base.sh JAVA_HOME OUT_DIR   (OUT_DIR is replaced; kept when already complete)
set -euo pipefail
JDK="$1"
OUT="$2"
STAMP="$OUT.complete"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$JDK" ]; then
  exit 0
fi
rm -rf "$OUT" "$STAMP"
mkdir -p "$OUT/opt/java" "$OUT/etc" "$OUT/tmp"

# modules of a JRE that the server and its libraries use (Pekko needs jdk.unsupported, the engine
# jdk.incubator.vector, Micrometer java.management/jdk.management, JFR for profiling in production)
MODULES=java.base,java.logging,java.management,java.naming,java.net.http,java.security.jgss,java.sql,java.xml,java.instrument,java.scripting,jdk.unsupported,jdk.incubator.vector,jdk.management,jdk.crypto.cryptoki,jdk.zipfs,jdk.naming.dns,jdk.jfr,jdk.management.jfr,jdk.localedata
"$JDK/bin/jlink" --add-modules "$MODULES" --include-locales=en --strip-debug --no-header-files \
  --no-man-pages --output "$OUT/opt/java/openjdk" 2> >(grep -v 'incubator modules' >&2)

# the shared libraries outside the JDK that its binaries and libraries need, at the same paths
LIBS=$( { ldd "$OUT/opt/java/openjdk/bin/java"; for f in "$OUT"/opt/java/openjdk/lib/*.so "$OUT"/opt/java/openjdk/lib/server/*.so; do ldd "$f" || true; done; } 2>/dev/null \
  | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' | grep -v "^$OUT" | sort -u)
for lib in $LIBS; do
  mkdir -p "$OUT$(dirname "$lib")"
  cp -L "$lib" "$OUT$lib"
done

printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$OUT/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$OUT/etc/group"
echo "$JDK" > "$STAMP"
