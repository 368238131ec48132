package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Role is what an API key may do.
type Role int

// The roles. A write key may also read.
const (
	RoleNone  Role = iota // no valid key
	RoleRead              // search, fetch documents, metrics
	RoleWrite             // also add and delete documents
)

// String returns "read", "write" or "none".
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	}
	return "none"
}

// EnvAPIKeys is the environment variable that may hold API keys, in the
// format of an API keys file (entries separated by newlines or commas).
const EnvAPIKeys = "CONTRIEVER_API_KEYS"

// Bounds on one API key: long enough not to be guessed, short enough to
// sit in a header.
const (
	MinKeyLen = 16
	MaxKeyLen = 256
)

// ErrBadKeys reports a malformed API keys file or variable.
var ErrBadKeys = errors.New("bad API keys")

// Keys is a set of API keys with their roles. Only the SHA-256 of each key
// is kept; a presented key is hashed and compared with every stored hash in
// constant time, so neither its length nor where it differs leaks through
// timing. The zero value (and nil) holds no key.
type Keys struct {
	hashes [][sha256.Size]byte
	roles  []Role
}

// Len returns the number of keys.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.hashes)
}

// ParseKeys parses API keys: entries "read:KEY" or "write:KEY", one per
// line or separated by commas; blank lines and lines starting with '#'
// are ignored. A key is 16 to 256 printable ASCII characters without
// spaces, commas or '#'. source names the origin in errors (a file name
// or the variable), never the keys themselves.
func ParseKeys(text, source string) (*Keys, error) {
	k := &Keys{}
	seen := map[[sha256.Size]byte]bool{}
	for ln, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for j, ent := range strings.Split(line, ",") {
			ent = strings.TrimSpace(ent)
			if ent == "" {
				continue
			}
			where := fmt.Sprintf("%s: line %d, entry %d", source, ln+1, j+1)
			roleName, key, ok := strings.Cut(ent, ":")
			if !ok {
				return nil, fmt.Errorf("%w: %s: want role:key (role read or write)", ErrBadKeys, where)
			}
			var role Role
			switch strings.TrimSpace(roleName) {
			case "read":
				role = RoleRead
			case "write":
				role = RoleWrite
			default:
				return nil, fmt.Errorf("%w: %s: unknown role (want read or write)", ErrBadKeys, where)
			}
			key = strings.TrimSpace(key)
			if len(key) < MinKeyLen || len(key) > MaxKeyLen {
				return nil, fmt.Errorf("%w: %s: a key must have %d to %d characters, this one has %d", ErrBadKeys, where, MinKeyLen, MaxKeyLen, len(key))
			}
			for i := 0; i < len(key); i++ {
				if c := key[i]; c <= ' ' || c > '~' || c == '#' {
					return nil, fmt.Errorf("%w: %s: a key holds only printable ASCII without spaces or '#' (character %d)", ErrBadKeys, where, i+1)
				}
			}
			h := sha256.Sum256([]byte(key))
			if seen[h] {
				return nil, fmt.Errorf("%w: %s: the key is listed twice", ErrBadKeys, where)
			}
			seen[h] = true
			k.hashes = append(k.hashes, h)
			k.roles = append(k.roles, role)
		}
	}
	if len(k.hashes) == 0 {
		return nil, fmt.Errorf("%w: %s holds no key", ErrBadKeys, source)
	}
	return k, nil
}

// LoadKeys reads API keys from file (when not "") and from the
// environment variable CONTRIEVER_API_KEYS (when set and not empty), and
// merges them. It returns nil, nil when neither gives any.
func LoadKeys(file string) (*Keys, error) {
	var all []*Keys
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("API keys: %w", err)
		}
		k, err := ParseKeys(string(b), file)
		if err != nil {
			return nil, err
		}
		all = append(all, k)
	}
	if v := os.Getenv(EnvAPIKeys); strings.TrimSpace(v) != "" {
		k, err := ParseKeys(v, "$"+EnvAPIKeys)
		if err != nil {
			return nil, err
		}
		all = append(all, k)
	}
	if len(all) == 0 {
		return nil, nil
	}
	out := &Keys{}
	seen := map[[sha256.Size]byte]bool{}
	for _, k := range all {
		for i, h := range k.hashes {
			if seen[h] {
				return nil, fmt.Errorf("%w: a key is listed both in %s and in $%s", ErrBadKeys, file, EnvAPIKeys)
			}
			seen[h] = true
			out.hashes = append(out.hashes, h)
			out.roles = append(out.roles, k.roles[i])
		}
	}
	return out, nil
}

// Role returns the role of a presented key, RoleNone when it matches no
// key. Every stored hash is compared, whatever matched first.
func (k *Keys) Role(key string) Role {
	if k == nil || key == "" {
		return RoleNone
	}
	h := sha256.Sum256([]byte(key))
	role := RoleNone
	for i := range k.hashes {
		eq := subtle.ConstantTimeCompare(h[:], k.hashes[i][:])
		role = Role(subtle.ConstantTimeSelect(eq, int(k.roles[i]), int(role)))
	}
	return role
}
