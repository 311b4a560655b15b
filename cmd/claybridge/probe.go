package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// exitProbeUsage is probe's exit status for invalid arguments. Docker
// reserves 2 in health checks, which only see 0 and 1 from a valid call.
const exitProbeUsage = 2

// probeAbout explains probe and its exit statuses.
const probeAbout = `Sends GET URL and prints the response status. It is the health check of
the container image, which has no curl or wget:

  claybridge probe http://127.0.0.1:8080/healthz

Redirects are not followed and proxy variables are ignored, so the answer
comes from URL itself.

Exit status: 0 a 2xx response, 1 any other response or no response within
--timeout, 2 invalid arguments.`

func probeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe", "probe [flags] URL", probeAbout, stderr)
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the response")
	if err := parseFlags(fs, args, exitProbeUsage); err != nil {
		return err
	}
	target, err := probeURL(fs.Args())
	if err != nil {
		return &exitError{code: exitProbeUsage, err: err}
	}
	if *timeout <= 0 {
		return &exitError{code: exitProbeUsage, err: fmt.Errorf("invalid --timeout %s: use a positive duration such as 5s", *timeout)}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	status, err := probe(ctx, target)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s\n", target, status)
	return nil
}

// probeURL returns the one argument, checked to be an http or https URL.
func probeURL(args []string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("want 1 argument, the URL, got %d; see claybridge probe --help", len(args))
	}
	u, err := url.Parse(args[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("invalid URL %q: use an http or https URL such as http://127.0.0.1:8080/healthz", args[0])
	}
	return u.String(), nil
}

// probe sends GET target and returns the response status; a status
// outside 2xx is an error.
func probe(ctx context.Context, target string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", err
	}
	hc := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Do(req)
	if errors.Is(err, context.DeadlineExceeded) {
		return "", fmt.Errorf("GET %s: no response before the timeout", target)
	}
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("GET %s: %s, want a 2xx status", target, resp.Status)
	}
	return resp.Status, nil
}
