#!/bin/sh
# redis-users.sh DIR [PREFIX]: the Redis users of deploy/redis-users.acl,
# with passwords, for the Redis whose data is in DIR:
#   DIR/users/USER.password  a random password per user (kept across runs)
#   DIR/users/USER.conf      "redis_user USER" and "redis_password ..." for
#                            a daemon's or the CLI's configuration
#   DIR/users.acl            the ACL file Redis reads (aclfile): each user's
#                            line with its password as "#<sha256>"
# All of it mode 0600 in a 0700 folder. PREFIX (default gc:) replaces the
# key prefix in the key patterns. Prints nothing on success.
set -eu
dir=$1
prefix=${2:-gc:}
top=$(cd "$(dirname "$0")/.." && pwd)
acl=$top/deploy/redis-users.acl
case $prefix in
    *[!A-Za-z0-9:._-]*) echo "redis-users: prefix \"$prefix\" may hold only A-Z a-z 0-9 : . _ -" >&2; exit 2 ;;
esac
umask 077
mkdir -p "$dir/users"
chmod 700 "$dir/users"
tmp=$dir/users.acl.tmp
: > "$tmp"
# shellcheck disable=SC2002   # one line at a time, comments dropped
grep -v -e '^#' -e '^[[:space:]]*$' "$acl" | while read -r word user rules; do
    [ "$word" = user ] || { echo "redis-users: $acl: not a user line: $word $user" >&2; exit 1; }
    line="user $user $rules"
    if [ "$user" != default ]; then
        pass=$dir/users/$user.password
        [ -s "$pass" ] || head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$pass"
        printf 'redis_user %s\nredis_password %s\n' "$user" "$(cat "$pass")" > "$dir/users/$user.conf"
        line="$line #$(tr -d '\n' < "$pass" | sha256sum | cut -d' ' -f1)"
    fi
    printf '%s\n' "$line" | sed "s/~gc:\*/~$prefix*/g" >> "$tmp"
done
mv "$tmp" "$dir/users.acl"
