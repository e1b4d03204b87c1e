package main

import (
	"fmt"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/daemon"
)

func runCheck(args []string) error {
	fs := newFlagSet("check", "--config FILE")
	cfg := fs.String("config", "/etc/swanctl/swanctl.conf", "swanctl.conf `file` to validate")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) == 1 && *cfg == "/etc/swanctl/swanctl.conf" {
		*cfg = pos[0]
	} else if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	c, err := config.Load(*cfg)
	if err != nil {
		return err
	}
	creds, err := daemon.CheckCredentials(c)
	if err != nil {
		return err
	}
	fmt.Printf("%s: OK, %d connection(s), %d secret(s)\n", *cfg, len(c.Connections), len(c.Secrets))
	for _, conn := range c.Connections {
		fmt.Println(conn.Describe())
	}
	for _, l := range creds {
		fmt.Println(l)
	}
	return nil
}
