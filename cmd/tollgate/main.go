// Command tollgate is a real-time VoIP fraud-prevention engine: it screens
// every call before it connects and learns from the calls that follow.
package main

import (
	"os"

	"github.com/tollgate-voip/tollgate/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
