#!/usr/bin/env bash
# Deploys thumbpipe as a Cloud Functions (gen2) CloudEvent function that makes
# thumbnails when objects land in a Cloud Storage bucket, and (unless
# --no-deletes) a second function that removes them when sources are deleted.
#
# Google's Go buildpack builds the package at the root of the uploaded source,
# and this repository has none. So the script stages a directory holding
# go.mod, go.sum, the module's packages that functions/gcsfunc needs (no tests,
# no testdata) and a one-file root package importing functions/gcsfunc, builds
# and vets it locally, then deploys it with
#
#   gcloud functions deploy NAME --gen2 --runtime=go127 --entry-point=Thumbnail
#     --trigger-event-filters=type=google.cloud.storage.object.v1.finalized
#     --trigger-event-filters=bucket=BUCKET --retry --set-env-vars=THUMBPIPE_...
#
# The pipeline's settings come from THUMBPIPE_* variables in the environment
# (see --list-vars and the README's configuration table); each one that is set
# is passed to the function, the others keep the code's defaults.
#
# Thumbnails go to a separate bucket, BUCKET-thumbnails by default (created,
# in the source bucket's location, when it does not exist). Eventarc cannot
# filter on a key prefix, so with thumbnails in the source bucket every
# thumbnail written (and deleted) invokes a function again: the invocation
# sees the marker and does nothing, but it is billed, one per size per
# upload. --same-bucket accepts that cost.
#
# Usage: deploy/gcloud/deploy.sh --bucket NAME [options]
#
#   --bucket NAME            bucket whose uploads are thumbnailed (env GCF_BUCKET; required)
#   --output-bucket NAME     bucket the thumbnails go to (env GCF_OUTPUT_BUCKET;
#                            default BUCKET-thumbnails, or THUMBPIPE_OUTPUT_BUCKET's)
#   --same-bucket            write thumbnails into BUCKET itself, under
#                            THUMBPIPE_OUTPUT_PREFIX: every thumbnail then costs
#                            one more (skipped) invocation (env GCF_SAME_BUCKET=1)
#   --project ID             Google Cloud project (env GCF_PROJECT; default: gcloud's)
#   --region REGION          function region (env GCF_REGION; default us-central1)
#   --trigger-location LOC   Eventarc trigger location, which must match the
#                            bucket's location, e.g. us for a US multi-region
#                            bucket (env GCF_TRIGGER_LOCATION; default: looked
#                            up from the bucket)
#   --name NAME              function name (env GCF_NAME; default thumbpipe);
#                            the delete function is NAME-delete
#   --runtime ID             Go runtime (env GCF_RUNTIME; default go127)
#   --memory SIZE            memory per instance (env GCF_MEMORY; default 1Gi: a
#                            50-megapixel source decodes to about 200 MB)
#   --timeout DURATION       per-event timeout (env GCF_TIMEOUT; default 120s)
#   --max-instances N        cap on instances (env GCF_MAX_INSTANCES; default: gcloud's)
#   --service-account EMAIL  the function's runtime identity (env GCF_SERVICE_ACCOUNT)
#   --trigger-service-account EMAIL
#                            the identity Eventarc invokes it as (env GCF_TRIGGER_SERVICE_ACCOUNT)
#   --no-deletes             do not deploy the delete function (env GCF_DELETES=0)
#   --events-topic NAME      create the Pub/Sub topic NAME in the project when it
#                            does not exist, and publish the completion events
#                            (CloudEvents) to it (env GCF_EVENTS_TOPIC; default:
#                            none, or THUMBPIPE_EVENTS_TOPIC's topic URL)
#   --stage-dir DIR          stage into DIR (emptied first) and keep it; default:
#                            a temporary directory removed at exit
#   --dry-run                print the gcloud commands instead of running them;
#                            the staged source is still built and vetted
#   --list-vars              print the THUMBPIPE_* variables passed on, and exit
#   -h, --help               this help
set -euo pipefail

prog=deploy/gcloud/deploy.sh
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 2; }
note() { printf '%s: %s\n' "$prog" "$*" >&2; }

# The variables the function reads: the ones internal/envconfig registers for
# gcsfunc (the pipeline's and the doors'). A test keeps this list equal to the
# registry's.
VARS=(
	THUMBPIPE_SIZES
	THUMBPIPE_FORMAT
	THUMBPIPE_JPEG_QUALITY
	THUMBPIPE_WEBP_QUALITY
	THUMBPIPE_WEBP_LOSSLESS
	THUMBPIPE_AVIF_QUALITY
	THUMBPIPE_BACKGROUND
	THUMBPIPE_COLOR
	THUMBPIPE_METADATA
	THUMBPIPE_OUTPUT_PREFIX
	THUMBPIPE_OUTPUT_BUCKET
	THUMBPIPE_INCLUDE
	THUMBPIPE_EXCLUDE
	THUMBPIPE_MAX_BYTES
	THUMBPIPE_MAX_PIXELS
	THUMBPIPE_MAX_DECODE_MEMORY
	THUMBPIPE_CACHE_CONTROL
	THUMBPIPE_BUCKETS
	THUMBPIPE_MAX_EVENT_AGE
	THUMBPIPE_EVENTS_TOPIC
)
# THUMBPIPE_* variables that configure tests and tools, not the function
# (internal/envconfig.TestOnly; a trailing * matches any rest).
NOT_FUNCTION_VARS=(THUMBPIPE_TOOLS_DIR THUMBPIPE_TESTSERVER_LOGS 'THUMBPIPE_SOAK_*' THUMBPIPE_BENCH_DIR)

ENTRY_POINT=Thumbnail
FINALIZED=google.cloud.storage.object.v1.finalized
DELETED=google.cloud.storage.object.v1.deleted

bucket=${GCF_BUCKET:-}
output_bucket=${GCF_OUTPUT_BUCKET:-}
same_bucket=${GCF_SAME_BUCKET:-0}
project=${GCF_PROJECT:-}
region=${GCF_REGION:-us-central1}
trigger_location=${GCF_TRIGGER_LOCATION:-}
name=${GCF_NAME:-thumbpipe}
runtime=${GCF_RUNTIME:-go127}
memory=${GCF_MEMORY:-1Gi}
timeout=${GCF_TIMEOUT:-120s}
max_instances=${GCF_MAX_INSTANCES:-}
service_account=${GCF_SERVICE_ACCOUNT:-}
trigger_service_account=${GCF_TRIGGER_SERVICE_ACCOUNT:-}
deletes=${GCF_DELETES:-1}
events_topic=${GCF_EVENTS_TOPIC:-}
stage_dir=
dry_run=0

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
	opt=$1
	case $opt in
	--*=*) set -- "${opt%%=*}" "${opt#*=}" "${@:2}"; continue ;;
	esac
	need() { (($# >= 2)) || die "$opt needs a value"; }
	case $opt in
	--bucket) need "$@"; bucket=$2; shift ;;
	--output-bucket) need "$@"; output_bucket=$2; shift ;;
	--same-bucket) same_bucket=1 ;;
	--project) need "$@"; project=$2; shift ;;
	--region) need "$@"; region=$2; shift ;;
	--trigger-location) need "$@"; trigger_location=$2; shift ;;
	--name) need "$@"; name=$2; shift ;;
	--runtime) need "$@"; runtime=$2; shift ;;
	--memory) need "$@"; memory=$2; shift ;;
	--timeout) need "$@"; timeout=$2; shift ;;
	--max-instances) need "$@"; max_instances=$2; shift ;;
	--service-account) need "$@"; service_account=$2; shift ;;
	--trigger-service-account) need "$@"; trigger_service_account=$2; shift ;;
	--stage-dir) need "$@"; stage_dir=$2; shift ;;
	--no-deletes) deletes=0 ;;
	--events-topic) need "$@"; events_topic=$2; shift ;;
	--dry-run) dry_run=1 ;;
	--list-vars) printf '%s\n' "${VARS[@]}"; exit 0 ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown option $opt (see --help)" ;;
	esac
	shift
done

[[ -n $bucket ]] || die "--bucket (or GCF_BUCKET) is required"
[[ $bucket != gs://* ]] || die "--bucket takes the bucket's name, without gs://"
case $deletes in 0 | 1) ;; *) die "GCF_DELETES must be 0 or 1" ;; esac
case $same_bucket in 0 | 1) ;; *) die "GCF_SAME_BUCKET must be 0 or 1" ;; esac
[[ $output_bucket != gs://* ]] || die "--output-bucket takes the bucket's name, without gs://"

# Where thumbnails go: a bucket of their own unless --same-bucket says
# otherwise. THUMBPIPE_OUTPUT_BUCKET, when set, names it too.
if [[ -n ${THUMBPIPE_OUTPUT_BUCKET:-} ]]; then
	[[ $THUMBPIPE_OUTPUT_BUCKET == gs://* ]] || die "THUMBPIPE_OUTPUT_BUCKET must be a gs:// URL, got $THUMBPIPE_OUTPUT_BUCKET"
	from_env=${THUMBPIPE_OUTPUT_BUCKET#gs://}
	from_env=${from_env%%\?*}
	[[ -z $output_bucket || $output_bucket == "$from_env" ]] ||
		die "--output-bucket $output_bucket and THUMBPIPE_OUTPUT_BUCKET=$THUMBPIPE_OUTPUT_BUCKET disagree"
	output_bucket=$from_env
fi
if ((same_bucket)); then
	[[ -z $output_bucket || $output_bucket == "$bucket" ]] || die "--same-bucket and an output bucket ($output_bucket) exclude each other"
	output_bucket=
elif [[ $output_bucket == "$bucket" ]]; then
	die "the output bucket is the source bucket: pass --same-bucket to accept one billed invocation per thumbnail"
elif [[ -z $output_bucket ]]; then
	output_bucket=$bucket-thumbnails
fi
command -v go >/dev/null || die "go is not on PATH"
((dry_run)) || command -v gcloud >/dev/null || die "gcloud is not on PATH (install the Google Cloud CLI, or use --dry-run)"

# Completion events: --events-topic names a Pub/Sub topic of the project,
# created below; THUMBPIPE_EVENTS_TOPIC, when set, must name the same.
if [[ -n $events_topic ]]; then
	[[ $events_topic =~ ^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$ ]] ||
		die "--events-topic takes a Pub/Sub topic name (not projects/.../topics/...), got $events_topic"
	if [[ -z $project ]]; then
		((!dry_run)) || die "--events-topic needs --project (or GCF_PROJECT) in a dry run"
		project=$(gcloud config get-value project 2>/dev/null)
		[[ -n $project ]] || die "--events-topic needs a project: pass --project"
	fi
	events_url=gcppubsub://projects/$project/topics/$events_topic
	[[ -z ${THUMBPIPE_EVENTS_TOPIC:-} || $THUMBPIPE_EVENTS_TOPIC == "$events_url" ]] ||
		die "--events-topic $events_topic and THUMBPIPE_EVENTS_TOPIC=$THUMBPIPE_EVENTS_TOPIC disagree"
fi

# --- the environment the function gets ---------------------------------------

env_names=()
env_values=()
for v in "${VARS[@]}"; do
	if [[ -n ${!v+set} ]]; then
		env_names+=("$v")
		env_values+=("${!v}")
	fi
done
if [[ -n $output_bucket && -z ${THUMBPIPE_OUTPUT_BUCKET:-} ]]; then
	env_names+=(THUMBPIPE_OUTPUT_BUCKET)
	env_values+=("gs://$output_bucket")
fi
if [[ -n $events_topic && -z ${THUMBPIPE_EVENTS_TOPIC:-} ]]; then
	env_names+=(THUMBPIPE_EVENTS_TOPIC)
	env_values+=("$events_url")
fi
while IFS= read -r v; do
	known=0
	for k in "${VARS[@]}"; do [[ $v == "$k" ]] && known=1; done
	for k in "${NOT_FUNCTION_VARS[@]}"; do [[ $v == $k ]] && known=1; done # a pattern
	((known)) || note "warning: $v is set but the function does not read it; not passed on"
done < <(compgen -e | grep '^THUMBPIPE_' || true)

# env_flag prints --set-env-vars=... for the set variables. Values may hold
# commas (THUMBPIPE_SIZES=200x200,800x600), so the list then uses gcloud's
# alternate delimiter syntax, ^D^K=V,DK=V (see `gcloud topic escaping`).
env_flag() {
	((${#env_names[@]})) || return 0
	local sep=, all d i
	all=$(printf '%s\n' "${env_values[@]}")
	if [[ $all == *,* ]]; then
		sep=
		for d in '|' ';' '@' '~' '#' '!'; do
			[[ $all == *"$d"* ]] || { sep=$d; break; }
		done
		[[ -n $sep ]] || die "THUMBPIPE_* values use every delimiter gcloud could split them on"
	fi
	local out=--set-env-vars=
	[[ $sep == , ]] || out+="^$sep^"
	for i in "${!env_names[@]}"; do
		((i == 0)) || out+=$sep
		out+="${env_names[$i]}=${env_values[$i]}"
	done
	printf '%s' "$out"
}

# --- stage the source ----------------------------------------------------------

root=$(cd "$(dirname "$0")/../.." && pwd)
module=$(cd "$root" && go list -m)
[[ $module == *.*/* ]] || die "module path $module has no dot in its first element; the Go buildpack needs one"

if [[ -n $stage_dir ]]; then
	mkdir -p "$stage_dir"
	stage=$(cd "$stage_dir" && pwd)
	[[ $stage != "$root" && $stage != / ]] || die "--stage-dir must not be the repository or /"
	find "$stage" -mindepth 1 -delete
else
	stage=$(mktemp -d)
	trap 'rm -rf "$stage"' EXIT
fi

note "staging the function's source in $stage"
cp "$root/go.mod" "$root/go.sum" "$stage/"
# The module's packages the function links, for the platform the buildpack
# builds on; each with its Go, assembly and embedded files, never tests.
(cd "$root" && GOOS=linux GOARCH=amd64 go list -deps \
	-f '{{with .Module}}{{if .Main}}{{$.Dir}}{{range $.GoFiles}} {{.}}{{end}}{{range $.SFiles}} {{.}}{{end}}{{range $.HFiles}} {{.}}{{end}}{{range $.EmbedFiles}} {{.}}{{end}}{{end}}{{end}}' \
	./functions/gcsfunc) |
	while read -r dir files; do
		rel=${dir#"$root"}
		rel=${rel#/}
		[[ -n $rel ]] || die "the repository root holds a Go package; staging would clash with the generated one"
		mkdir -p "$stage/$rel"
		for f in $files; do
			mkdir -p "$(dirname "$stage/$rel/$f")"
			cp "$dir/$f" "$stage/$rel/$f"
		done
	done
[[ -d $stage/functions/gcsfunc ]] || die "staging found no functions/gcsfunc package"

cat >"$stage/function.go" <<EOF
// Package thumbpipe is the root package Google's Go buildpack builds into the
// Cloud Function. Importing functions/gcsfunc registers the $ENTRY_POINT entry
// point; the framework import keeps it in go.mod and go.sum as the buildpack
// requires. Generated by deploy/gcloud/deploy.sh.
package thumbpipe

import (
	_ "github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	_ "$module/functions/gcsfunc"
)
EOF

note "building and vetting the staged source (GOOS=linux GOARCH=amd64)"
(cd "$stage" && GOOS=linux GOARCH=amd64 GOFLAGS='-mod=readonly -tags=nodynamic' go build ./... &&
	GOOS=linux GOARCH=amd64 GOFLAGS='-mod=readonly -tags=nodynamic' go vet ./...) ||
	die "the staged source does not build; nothing deployed"

# --- deploy ------------------------------------------------------------------

run() {
	if ((dry_run)); then
		printf '+'
		printf ' %q' "$@"
		printf '\n'
	else
		printf '+ %s\n' "$*" >&2
		"$@"
	fi
}

project_flag=()
[[ -z $project ]] || project_flag=(--project="$project")

if [[ -z $trigger_location ]]; then
	if ((dry_run)); then
		run gcloud storage buckets describe "gs://$bucket" "${project_flag[@]}" --format='value(location)'
		trigger_location=BUCKET_LOCATION
	else
		trigger_location=$(gcloud storage buckets describe "gs://$bucket" "${project_flag[@]}" --format='value(location)')
		trigger_location=${trigger_location,,}
		[[ -n $trigger_location ]] || die "could not look up the location of gs://$bucket; pass --trigger-location"
	fi
fi

if [[ -n $output_bucket ]]; then
	if ((dry_run)); then
		note "the output bucket gs://$output_bucket is created if it does not exist"
		run gcloud storage buckets create "gs://$output_bucket" "${project_flag[@]}" --location="$trigger_location" --uniform-bucket-level-access
	elif ! gcloud storage buckets describe "gs://$output_bucket" "${project_flag[@]}" --format='value(name)' >/dev/null 2>&1; then
		run gcloud storage buckets create "gs://$output_bucket" "${project_flag[@]}" --location="$trigger_location" --uniform-bucket-level-access
	fi
	note "thumbnails go to gs://$output_bucket; the function's service account needs roles/storage.objectUser on it"
else
	note "warning: thumbnails go to gs://$bucket itself; Eventarc cannot filter on a prefix, so each thumbnail written or deleted invokes the function once more (skipped, but billed): one extra invocation per size per upload"
fi

if [[ -n $events_topic ]]; then
	if ((dry_run)); then
		note "the events topic $events_topic is created if it does not exist"
		run gcloud pubsub topics create "$events_topic" "${project_flag[@]}"
	elif ! gcloud pubsub topics describe "$events_topic" "${project_flag[@]}" --format='value(name)' >/dev/null 2>&1; then
		run gcloud pubsub topics create "$events_topic" "${project_flag[@]}"
	fi
	note "completion events go to $events_url; the function's service account needs roles/pubsub.publisher on it"
fi

deploy() { # deploy NAME EVENT_TYPE
	local cmd=(gcloud functions deploy "$1" --gen2
		"${project_flag[@]}"
		--region="$region"
		--runtime="$runtime"
		--source="$stage"
		--entry-point="$ENTRY_POINT"
		--trigger-event-filters="type=$2"
		--trigger-event-filters="bucket=$bucket"
		--trigger-location="$trigger_location"
		--retry
		--set-build-env-vars=GOFLAGS=-tags=nodynamic
		--memory="$memory"
		--timeout="$timeout")
	[[ -z $max_instances ]] || cmd+=(--max-instances="$max_instances")
	[[ -z $service_account ]] || cmd+=(--service-account="$service_account")
	[[ -z $trigger_service_account ]] || cmd+=(--trigger-service-account="$trigger_service_account")
	local envf
	envf=$(env_flag)
	if [[ -n $envf ]]; then
		cmd+=("$envf")
	else
		cmd+=(--clear-env-vars)
	fi
	run "${cmd[@]}"
}

deploy "$name" "$FINALIZED"
if ((deletes)); then
	deploy "$name-delete" "$DELETED"
fi
if ((dry_run)); then
	note "dry run: the staged source builds; nothing was deployed"
else
	note "deployed; logs: gcloud functions logs read $name --gen2 --region=$region ${project_flag[*]}"
fi
