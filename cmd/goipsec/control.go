package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/goipsec/goipsec/internal/ctl"
	"github.com/goipsec/goipsec/internal/daemon"
)

func controlFlags(fs *flag.FlagSet) (*string, *time.Duration) {
	return fs.String("control", daemon.DefaultControlPath, "VICI control socket `path`"),
		fs.Duration("timeout", 60*time.Second, "how long to wait for the daemon")
}

// controlCommand parses "CONN [flags]" for up and down, connects to the
// daemon and runs do with a context bounded by --timeout.
func controlCommand(name, childHelp string, args []string, do func(ctx context.Context, c *ctl.Client, conn, child string, timeout time.Duration) error) error {
	return controlCommandWith(name, "CONN [--child NAME]", childHelp, args, nil, do)
}

// controlCommandWith is controlCommand with extra flags added by more.
func controlCommandWith(name, usage, childHelp string, args []string, more func(*flag.FlagSet), do func(ctx context.Context, c *ctl.Client, conn, child string, timeout time.Duration) error) error {
	fs := newFlagSet(name, usage)
	child := fs.String("child", "", childHelp)
	if more != nil {
		more(fs)
	}
	control, timeout := controlFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	c, err := ctl.Dial(*control)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	return do(ctx, c, pos[0], *child, *timeout)
}

func runUp(args []string) error {
	var ikeOnly *bool
	return controlCommandWith("up", "CONN [--child NAME | --ike]", "child to bring up (default: the connection's first)", args,
		func(fs *flag.FlagSet) {
			ikeOnly = fs.Bool("ike", false, "bring up the IKE SA alone, without a Child SA (childless, RFC 6023)")
		},
		func(ctx context.Context, c *ctl.Client, conn, child string, timeout time.Duration) error {
			var err error
			switch {
			case *ikeOnly && child != "":
				return errors.New("--ike and --child exclude each other")
			case *ikeOnly:
				err = c.InitiateIKE(ctx, conn, timeout)
			default:
				err = c.Initiate(ctx, conn, child, timeout)
			}
			if err != nil {
				return err
			}
			fmt.Printf("%s is up\n", conn)
			return nil
		})
}

func runDown(args []string) error {
	return controlCommand("down", "delete only this Child SA", args,
		func(ctx context.Context, c *ctl.Client, conn, child string, timeout time.Duration) error {
			n, err := c.Terminate(ctx, conn, child, timeout)
			if err != nil {
				return err
			}
			fmt.Printf("%s: deleted %d SA(s)\n", conn, n)
			return nil
		})
}

func runStatus(args []string) error {
	fs := newFlagSet("status", "[CONN] [--json]")
	asJSON := fs.Bool("json", false, "print JSON (the VICI list-sas trees)")
	control, timeout := controlFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	conn := ""
	if len(pos) > 0 {
		conn = pos[0]
	}
	c, err := ctl.Dial(*control)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	sas, err := c.ListSAs(ctx, conn)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if sas == nil {
			sas = []map[string]any{}
		}
		return enc.Encode(sas)
	}
	if len(sas) == 0 {
		fmt.Println("no IKE SAs")
		return nil
	}
	ctl.PrintSAs(os.Stdout, sas)
	return nil
}

func runReload(args []string) error {
	fs := newFlagSet("reload", "")
	control, timeout := controlFlags(fs)
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	c, err := ctl.Dial(*control)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := c.Reload(ctx); err != nil {
		return err
	}
	fmt.Println("configuration reloaded")
	return nil
}
