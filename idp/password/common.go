package password

import (
	_ "embed"
	"strings"
	"sync"
)

//go:embed common_passwords.txt
var commonList string

// common is the set of passwords attackers try first, built on first use
// (only setting a password needs it).
var common = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 12000)
	for _, line := range strings.Split(commonList, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			set[line] = struct{}{}
		}
	}
	return set
})

// IsCommon reports whether pw, ignoring case, is one of the passwords
// attackers try first.
func IsCommon(pw string) bool {
	_, ok := common()[strings.ToLower(pw)]
	return ok
}
