// Command goipsec is an IPsec implementation: an IKEv2 daemon with a
// userspace ESP data plane, configured with strongSwan's swanctl.conf and
// controlled through strongSwan's VICI protocol.
//
// Usage:
//
//	goipsec daemon --config FILE [--control PATH] [--log-format text|json]
//	goipsec up CONN [--child NAME | --ike]
//	goipsec down CONN [--child NAME]
//	goipsec status [--json]
//	goipsec reload
//	goipsec check --config FILE
//	goipsec demo
//	goipsec version
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

type command struct {
	name, args, help string
	run              func(args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"daemon", "--config FILE", "run the IKE daemon and data plane in the foreground", runDaemon},
		{"up", "CONN [--child NAME]", "initiate a connection", runUp},
		{"down", "CONN [--child NAME]", "delete a connection's SAs (tells the peer)", runDown},
		{"status", "[--json]", "show the IKE and Child SAs", runStatus},
		{"reload", "", "re-read the daemon's config file and apply changes (like SIGHUP)", runReload},
		{"check", "--config FILE [--conn N]", "validate a configuration; explain what it negotiates and why a peer would (not) match", runCheck},
		{"demo", "", "two network namespaces, a tunnel, traffic across it (needs root)", runDemo},
		{"version", "", "print the version", runVersion},
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "goipsec: IPsec (IKEv2 + ESP) in Go\n\nUsage:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  goipsec %-8s %-22s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'goipsec COMMAND -h' for a command's flags.\n")
}

// errUsage marks errors already explained by the flag package.
var errUsage = errors.New("usage")

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	for _, c := range commands {
		if c.name == os.Args[1] {
			if err := c.run(os.Args[2:]); err != nil {
				if !errors.Is(err, errUsage) {
					fmt.Fprintf(os.Stderr, "goipsec %s: %v\n", c.name, err)
				}
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "goipsec: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}

// parseInterspersed parses flags that may come before or after positional
// arguments ("goipsec up site --child net") and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errUsage
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet("goipsec "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: goipsec %s %s\n", name, args)
		var b strings.Builder
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(os.Stderr)
		fmt.Fprint(os.Stderr, b.String())
	}
	return fs
}
