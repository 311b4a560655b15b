package config

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// tablesComment documents the tables key in commented YAML output.
const tablesComment = `Clay tables by name, as row requests name them. For example:
  leads:
    webhook_url: https://api.clay.com/v3/sources/webhook/pull-in-data-from-a-webhook-<uuid>
    token_env: LEADS_TOKEN   # or token_file: /run/secrets/leads-token
    callback: true           # results are the rows Clay posts back; see docs/clay-setup.md
With --sim or --clay-url, a table not listed here maps to the webhook
source pull-in-data-from-a-webhook-<name> on that base URL; with real Clay
a row for an unlisted table is dead-lettered as invalid_request.`

// WriteYAML writes c as YAML after redacting it. With comments, each key
// carries its description, flag and environment variables, which makes
// the output of Default a starting configuration file.
func WriteYAML(w io.Writer, c Config, comments bool) error {
	var doc yaml.Node
	if err := doc.Encode(c.Redacted()); err != nil {
		return err
	}
	if comments {
		annotate(&doc, "")
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return enc.Close()
}

// annotate sets the head comment of each key under n that is a setting.
func annotate(n *yaml.Node, prefix string) {
	if n.Kind == yaml.DocumentNode {
		annotate(n.Content[0], prefix)
		return
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keyNode, value := n.Content[i], n.Content[i+1]
		key := keyNode.Value
		if prefix != "" {
			key = prefix + "." + key
		}
		if s, ok := lookupSetting(key); ok {
			keyNode.HeadComment = s.comment()
		}
		if key == "tables" {
			keyNode.HeadComment = tablesComment
			continue
		}
		annotate(value, key)
	}
}

// comment is the description of s in commented YAML output.
func (s setting) comment() string {
	ways := s.env()
	if s.flag != "" {
		ways = append([]string{"--" + s.flag}, ways...)
	}
	return s.usage + " (" + strings.Join(ways, ", ") + ")"
}

// Markdown writes a table of every setting: YAML key, flag, environment
// variables, default and description. docs/configuration.md holds it.
func Markdown(w io.Writer) {
	defaults := Default()
	fmt.Fprintln(w, "| YAML key | flag | environment | default | description |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	fmt.Fprintf(w, "| — | `--config` | `%s` | none | YAML configuration file |\n", envConfig)
	for _, s := range settings {
		key, flag, def := "`"+s.key+"`", "—", formatDefault(s.field(&defaults))
		if s.flag != "" {
			flag = "`--" + s.flag + "`"
		}
		if s.secret {
			key, def = "—", "none"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", key, flag, codeList(s.env()), def, markdownText(s.usage))
	}
	for _, s := range tableSettings {
		fmt.Fprintf(w, "| `%s` | — | — | none | %s |\n", s.key, s.usage)
	}
}

// markdownText escapes angle brackets, which Markdown would take for HTML.
func markdownText(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(s)
}

func codeList(names []string) string {
	quoted := make([]string, len(names))
	for i, name := range names {
		quoted[i] = "`" + name + "`"
	}
	return strings.Join(quoted, ", ")
}

func formatDefault(v reflect.Value) string {
	switch value := v.Interface().(type) {
	case string:
		if value == "" {
			return "none"
		}
		return "`" + value + "`"
	case time.Duration:
		return "`" + value.String() + "`"
	default:
		return fmt.Sprintf("`%v`", value)
	}
}
