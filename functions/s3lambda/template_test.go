package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"
	"go.yaml.in/yaml/v3"

	"github.com/thumbpipe/thumbpipe/functions/internal/s3event"
	"github.com/thumbpipe/thumbpipe/internal/envconfig"
)

const (
	samDir       = "../../deploy/sam"
	templateFile = samDir + "/template.yaml"
	functionID   = "ThumbnailFunction"
)

// The template is checked twice: as YAML, for what goformation v7 does not
// model (it rejects the function's RecursiveLoop and LoggingConfig as unknown
// fields, and resolves !GetAtt and resource !Refs to nothing), and through
// goformation with its intrinsics resolved, for the rest.

// yamlTemplate returns the template's root mapping node.
func yamlTemplate(t *testing.T) *yaml.Node {
	t.Helper()
	data, err := os.ReadFile(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", templateFile, err)
	}
	return doc.Content[0]
}

// child follows path through mapping nodes; nil if a key is missing.
func child(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// mapKeys returns the keys of a mapping node.
func mapKeys(n *yaml.Node) []string {
	var out []string
	for i := 0; n != nil && i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

func TestTemplateYAML(t *testing.T) {
	root := yamlTemplate(t)
	if got := child(root, "Transform").Value; got != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform = %q", got)
	}
	props := child(root, "Resources", functionID, "Properties")
	if props == nil {
		t.Fatalf("no Resources.%s.Properties", functionID)
	}
	scalar := func(what string, n *yaml.Node, tag, want string) {
		t.Helper()
		if n == nil {
			t.Errorf("%s: missing", what)
			return
		}
		if n.Value != want || (tag != "" && n.Tag != tag) {
			t.Errorf("%s = %s %q, want %s %q", what, n.Tag, n.Value, tag, want)
		}
	}
	scalar("RecursiveLoop", child(props, "RecursiveLoop"), "", "Terminate")
	scalar("LoggingConfig.LogFormat", child(props, "LoggingConfig", "LogFormat"), "", "JSON")

	// The on-failure destination is the template's own queue.
	dest := child(props, "EventInvokeConfig", "DestinationConfig", "OnFailure")
	scalar("OnFailure.Type", child(dest, "Type"), "", "SQS")
	scalar("OnFailure.Destination", child(dest, "Destination"), "!GetAtt", "FailedEventsQueue.Arn")
	scalar("FailedEventsQueue.Type", child(root, "Resources", "FailedEventsQueue", "Type"), "", "AWS::SQS::Queue")

	// Both triggers are on the source bucket the template creates.
	for _, ev := range []string{"Created", "Removed"} {
		scalar(ev+" bucket", child(props, "Events", ev, "Properties", "Bucket"), "!Ref", "SourceBucket")
		scalar(ev+" prefix", child(props, "Events", ev, "Properties", "Filter", "S3Key", "Rules").Content[0].Content[3], "!Ref", "SourcePrefix")
	}
	scalar("SourceBucket.Type", child(root, "Resources", "SourceBucket", "Type"), "", "AWS::S3::Bucket")
	scalar("SourceBucket name", child(root, "Resources", "SourceBucket", "Properties", "BucketName"), "!Ref", "SourceBucketName")

	// Every THUMBPIPE_* variable the code reads is declared, and nothing else.
	declared := mapKeys(child(props, "Environment", "Variables"))
	sort.Strings(declared)
	want := envconfig.Names(envconfig.S3Lambda)
	sort.Strings(want)
	if !slices.Equal(declared, want) {
		t.Errorf("environment variables:\n declared %q\n the code reads %q", declared, want)
	}
}

// parseTemplate parses the template with goformation, resolving
// parameters (defaults, then overrides) and the conditions of !If.
func parseTemplate(t *testing.T, overrides map[string]any) *cloudformation.Template {
	t.Helper()
	root := yamlTemplate(t)
	props := child(root, "Resources", functionID, "Properties")
	for _, unknown := range []string{"RecursiveLoop", "LoggingConfig"} { // checked in TestTemplateYAML
		for i := 0; i+1 < len(props.Content); i += 2 {
			if props.Content[i].Value == unknown {
				props.Content = slices.Delete(props.Content, i, i+2)
				break
			}
		}
	}
	// goformation's !If wants its conditions already evaluated, but its
	// EvaluateConditions option also replaces every resource that has a
	// Condition with the condition's value. So evaluate the conditions on
	// their own and write the results into the template.
	conds := child(root, "Conditions")
	part := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "Parameters"}, child(root, "Parameters"),
		{Kind: yaml.ScalarNode, Value: "Conditions"}, conds,
	}}
	evaluated, err := intrinsics.ProcessYAML(encodeYAML(t, part), &intrinsics.ProcessorOptions{
		ParameterOverrides: overrides, EvaluateConditions: true})
	if err != nil {
		t.Fatal(err)
	}
	var values struct{ Conditions map[string]bool }
	if err := json.Unmarshal(evaluated, &values); err != nil {
		t.Fatalf("conditions: %v in %s", err, evaluated)
	}
	for i := 0; i+1 < len(conds.Content); i += 2 {
		v, ok := values.Conditions[conds.Content[i].Value]
		if !ok {
			t.Fatalf("condition %s not evaluated: %s", conds.Content[i].Value, evaluated)
		}
		conds.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: map[bool]string{true: "true", false: "false"}[v]}
	}

	tmpl, err := goformation.ParseYAMLWithOptions(encodeYAML(t, root), &intrinsics.ProcessorOptions{
		ParameterOverrides: overrides,
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
			// goformation leaves ${AWS::Partition} unresolved.
			"Fn::Sub": func(name string, input any, template any) any {
				if s, ok := input.(string); ok {
					input = strings.ReplaceAll(s, "${AWS::Partition}", "aws")
				}
				return intrinsics.FnSub(name, input, template)
			},
		},
	})
	if err != nil {
		t.Fatalf("goformation: %v", err)
	}
	return tmpl
}

func encodeYAML(t *testing.T, n *yaml.Node) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := yaml.NewEncoder(&buf).Encode(n); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// statement is one IAM policy statement, normalised.
type statement struct {
	Actions   []string
	Resources []string
}

func TestTemplate(t *testing.T) {
	tests := []struct {
		name       string
		thumbs     string // ThumbnailBucketName
		events     string // CompletionEvents
		wantOutput string // THUMBPIPE_OUTPUT_BUCKET
		wantEvents string // THUMBPIPE_EVENTS_TOPIC
		wantPolicy []statement
	}{
		{
			name: "thumbnails in the source bucket",
			wantPolicy: []statement{
				{[]string{"s3:GetObject"}, []string{"arn:aws:s3:::photos-eu/uploads/*"}},
				{[]string{"s3:ListBucket"}, []string{"arn:aws:s3:::photos-eu"}},
				{[]string{"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"}, []string{"arn:aws:s3:::photos-eu/thumbnails/*"}},
			},
		},
		{
			name:       "separate thumbnail bucket",
			thumbs:     "photos-eu-thumbs",
			wantOutput: "s3://photos-eu-thumbs",
			wantPolicy: []statement{
				{[]string{"s3:GetObject"}, []string{"arn:aws:s3:::photos-eu/uploads/*"}},
				{[]string{"s3:ListBucket"}, []string{"arn:aws:s3:::photos-eu"}},
				{[]string{"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"}, []string{"arn:aws:s3:::photos-eu-thumbs/thumbnails/*"}},
				{[]string{"s3:ListBucket"}, []string{"arn:aws:s3:::photos-eu-thumbs"}},
			},
		},
		{
			name:       "completion events",
			events:     "true",
			wantEvents: "awssns:///arn:aws:sns:us-east-1:123456789012:goformation-stack-thumbnail-events?region=us-east-1",
			wantPolicy: []statement{
				{[]string{"s3:GetObject"}, []string{"arn:aws:s3:::photos-eu/uploads/*"}},
				{[]string{"s3:ListBucket"}, []string{"arn:aws:s3:::photos-eu"}},
				{[]string{"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"}, []string{"arn:aws:s3:::photos-eu/thumbnails/*"}},
				{[]string{"sns:Publish"}, []string{"arn:aws:sns:us-east-1:123456789012:goformation-stack-thumbnail-events"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params := map[string]any{"SourceBucketName": "photos-eu", "ThumbnailBucketName": tc.thumbs}
			if tc.events != "" {
				params["CompletionEvents"] = tc.events
			}
			tmpl := parseTemplate(t, params)
			fn, err := tmpl.GetServerlessFunctionWithName(functionID)
			if err != nil {
				t.Fatal(err)
			}
			str := func(p *string) string {
				if p == nil {
					return "<nil>"
				}
				return *p
			}
			if got := str(fn.Runtime); got != "provided.al2023" {
				t.Errorf("Runtime = %s", got)
			}
			if !slices.Equal(fn.Architectures, []string{"arm64"}) {
				t.Errorf("Architectures = %q", fn.Architectures)
			}
			if got := str(fn.Handler); got != "bootstrap" {
				t.Errorf("Handler = %s", got)
			}
			if bm := fn.AWSCloudFormationMetadata["BuildMethod"]; bm != "makefile" && bm != "go1.x" {
				t.Errorf("Metadata.BuildMethod = %v, want makefile or go1.x", bm)
			}
			if fn.MemorySize == nil || *fn.MemorySize != 512 {
				t.Errorf("MemorySize = %v, want the default 512", fn.MemorySize)
			}
			if fn.Timeout == nil || *fn.Timeout < 30 {
				t.Errorf("Timeout = %v, want at least 30 s for large images", fn.Timeout)
			}

			// Triggers: created and removed objects under the prefix.
			wantEvents := map[string]string{"Created": "s3:ObjectCreated:*", "Removed": "s3:ObjectRemoved:*"}
			if len(fn.Events) != len(wantEvents) {
				t.Errorf("Events = %v, want %v", mapKeysOf(fn.Events), wantEvents)
			}
			for name, want := range wantEvents {
				ev, ok := fn.Events[name]
				if !ok || ev.Type != "S3" || ev.Properties == nil || ev.Properties.S3Event == nil {
					t.Errorf("event %s: missing or not an S3 event: %+v", name, ev)
					continue
				}
				s3 := ev.Properties.S3Event
				if s3.Events == nil || str(s3.Events.String) != want {
					t.Errorf("event %s: Events = %+v, want %s", name, s3.Events, want)
				}
				var rules []serverless.Function_S3KeyFilterRule
				if s3.Filter != nil && s3.Filter.S3Key != nil {
					rules = s3.Filter.S3Key.Rules
				}
				if len(rules) != 1 || rules[0].Name != "prefix" || rules[0].Value != "uploads/" {
					t.Errorf("event %s: filter rules = %+v, want prefix uploads/", name, rules)
				}
			}

			// Asynchronous invocation: bounded retries, then the queue.
			eic := fn.EventInvokeConfig
			if eic == nil || eic.MaximumRetryAttempts == nil || *eic.MaximumRetryAttempts > 2 ||
				eic.MaximumEventAgeInSeconds == nil || eic.DestinationConfig == nil || eic.DestinationConfig.OnFailure == nil ||
				str(eic.DestinationConfig.OnFailure.Type) != "SQS" {
				t.Errorf("EventInvokeConfig = %+v", eic)
			}

			// The environment loads as a valid config, and the function
			// starts with it.
			env := fn.Environment.Variables
			if got := env["THUMBPIPE_OUTPUT_BUCKET"]; got != tc.wantOutput {
				t.Errorf("THUMBPIPE_OUTPUT_BUCKET = %q, want %q", got, tc.wantOutput)
			}
			if got := env["THUMBPIPE_EVENTS_TOPIC"]; got != tc.wantEvents {
				t.Errorf("THUMBPIPE_EVENTS_TOPIC = %q, want %q", got, tc.wantEvents)
			}
			// The topic the function publishes to is the one the stack
			// makes, only when asked (goformation keeps resources whatever
			// their condition).
			topic, err := tmpl.GetSNSTopicWithName("CompletionEventsTopic")
			if err != nil || topic.AWSCloudFormationCondition != "HasEventsTopic" {
				t.Errorf("CompletionEventsTopic %+v (%v), want one on the condition HasEventsTopic", topic, err)
			} else if tc.wantEvents != "" && !strings.HasSuffix(tc.wantEvents, ":"+str(topic.TopicName)+"?region=us-east-1") {
				t.Errorf("the topic is named %s, THUMBPIPE_EVENTS_TOPIC %s", str(topic.TopicName), tc.wantEvents)
			}
			if got := env["THUMBPIPE_BUCKETS"]; got != "photos-eu" {
				t.Errorf("THUMBPIPE_BUCKETS = %q, want the source bucket photos-eu", got)
			}
			if _, err := envconfig.Load(func(k string) string { return env[k] }); err != nil {
				t.Errorf("the template's environment: %v", err)
			}
			if _, err := fromEnv(func(k string) string { return env[k] }, slog.Default()); err != nil {
				t.Errorf("the function would not start: %v", err)
			}
			for _, v := range envconfig.Vars { // literals are the documented defaults
				if got, ok := env[v.Name]; ok && !slices.Contains([]string{"THUMBPIPE_SIZES", "THUMBPIPE_OUTPUT_PREFIX", "THUMBPIPE_OUTPUT_BUCKET", "THUMBPIPE_BUCKETS", "THUMBPIPE_EVENTS_TOPIC"}, v.Name) && got != v.Default {
					t.Errorf("%s = %q in the template, the default is %q", v.Name, got, v.Default)
				}
			}

			// Least privilege: exactly these statements.
			if got := policy(t, fn.Policies); !equalPolicy(got, tc.wantPolicy) {
				t.Errorf("policy:\n got %+v\nwant %+v", got, tc.wantPolicy)
			}
		})
	}
}

func mapKeysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// policy flattens the function's inline policy statements; a SAM policy
// template or managed policy would show up as a failure here.
func policy(t *testing.T, p any) []statement {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		Statement []map[string]any
	}
	if err := json.Unmarshal(data, &docs); err != nil {
		t.Fatalf("policies are not a list of inline statements: %s", data)
	}
	list := func(v any) []string {
		switch v := v.(type) {
		case string:
			return []string{v}
		case []any:
			var out []string
			for _, s := range v {
				out = append(out, s.(string))
			}
			sort.Strings(out)
			return out
		}
		t.Errorf("unexpected policy value %v", v)
		return nil
	}
	var out []statement
	for _, d := range docs {
		for _, s := range d.Statement {
			if s == nil { // a condition resolved to AWS::NoValue
				continue
			}
			if s["Effect"] != "Allow" {
				t.Errorf("statement %v: want Effect Allow", s)
			}
			out = append(out, statement{Actions: list(s["Action"]), Resources: list(s["Resource"])})
		}
	}
	return out
}

func equalPolicy(a, b []statement) bool {
	return slices.EqualFunc(a, b, func(x, y statement) bool {
		return slices.Equal(x.Actions, y.Actions) && slices.Equal(x.Resources, y.Resources)
	})
}

// TestSAMExamples checks the events for `sam local invoke -e` and the
// samconfig example against the template and the handler.
func TestSAMExamples(t *testing.T) {
	root := yamlTemplate(t)
	prefix := child(root, "Parameters", "SourcePrefix", "Default").Value
	files, err := filepath.Glob(filepath.Join(samDir, "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no events in %s/events: %v", samDir, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch shapeOf(data) {
		case testShape:
		case s3Shape:
			ev, err := s3event.Parse(data)
			if err != nil || len(ev.Records) == 0 {
				t.Errorf("%s: %v", f, err)
				continue
			}
			for _, r := range ev.Records {
				key, err := r.Key()
				if err != nil || !strings.HasPrefix(key, prefix) || r.Action() == s3event.Other {
					t.Errorf("%s: key %q (%v), action %v: want a created or removed object under %s", f, key, err, r.Action(), prefix)
				}
			}
		default:
			t.Errorf("%s: not a payload the function accepts", f)
		}
	}

	// Every parameter the samconfig example sets exists; the required one is set.
	data, err := os.ReadFile(filepath.Join(samDir, "samconfig.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	params := mapKeys(child(root, "Parameters"))
	set := map[string]bool{}
	for _, m := range regexp.MustCompile(`parameter_overrides = "([^"]*)"`).FindAllStringSubmatch(string(data), -1) {
		for _, kv := range strings.Fields(m[1]) {
			name, _, _ := strings.Cut(kv, "=")
			if !slices.Contains(params, name) {
				t.Errorf("samconfig example sets %s, which the template does not declare", name)
			}
			set[name] = true
		}
	}
	if !set["SourceBucketName"] {
		t.Error("samconfig example does not set SourceBucketName")
	}
}
