package config

import (
	"maps"
	"net/url"
	"strings"
)

// RedactURL hides the user information of each URL in a comma-separated
// list, such as NATS URLs with a user and password.
func RedactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for i, part := range parts {
		at := strings.LastIndex(part, "@")
		scheme := strings.Index(part, "://")
		if at >= 0 && scheme >= 0 && scheme < at {
			parts[i] = part[:scheme+3] + redactedText + part[at:]
		}
	}
	return strings.Join(parts, ",")
}

// redactWebhookURL keeps the scheme and host of a webhook URL; its path
// names the webhook source and works as a credential.
func redactWebhookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return redactedText
	}
	return u.Scheme + "://" + u.Host + "/" + redactedText
}

// Redacted returns a copy of c fit for printing: URL credentials and
// webhook paths are hidden, and secrets print as "[redacted]" anyway.
func (c Config) Redacted() Config {
	c.NATS.URL = RedactURL(c.NATS.URL)
	c.Clay.URL = RedactURL(c.Clay.URL)
	c.Tables = maps.Clone(c.Tables)
	for name, t := range c.Tables {
		t.WebhookURL = redactWebhookURL(t.WebhookURL)
		c.Tables[name] = t
	}
	return c
}
