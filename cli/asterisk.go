package cli

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/tollgate-voip/tollgate/agi"
)

// asterisk: tollgate asterisk pin-hash (reads the PIN from stdin so it
// stays out of the shell history and the process list).
func (e *env) asterisk(args []string) error {
	if len(args) != 1 || args[0] != "pin-hash" {
		return usagef("usage: tollgate asterisk pin-hash < PIN")
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return usagef("asterisk pin-hash: no PIN on standard input")
	}
	h, err := agi.HashPIN(strings.TrimSpace(line))
	if err != nil {
		return usagef("asterisk pin-hash: %v", err)
	}
	fmt.Fprintln(e.stdout, h)
	return nil
}
