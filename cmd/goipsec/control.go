package main

import (
	"context"
	"encoding/json"
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

func runUp(args []string) error {
	fs := newFlagSet("up", "CONN [--child NAME]")
	child := fs.String("child", "", "child to bring up (default: the connection's first)")
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
	if err := c.Initiate(ctx, pos[0], *child, *timeout); err != nil {
		return err
	}
	fmt.Printf("%s is up\n", pos[0])
	return nil
}

func runDown(args []string) error {
	fs := newFlagSet("down", "CONN [--child NAME]")
	child := fs.String("child", "", "delete only this Child SA")
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
	n, err := c.Terminate(ctx, pos[0], *child, *timeout)
	if err != nil {
		return err
	}
	fmt.Printf("%s: deleted %d SA(s)\n", pos[0], n)
	return nil
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
