# METADATA
# title: SARK 1.0 authorization policy
# description: >-
#   Decides tool invocations and catalog/audit actions for MCP servers.
#   Evaluate `data.mcp.authz.decision`; input shape in docs/policy-input.md,
#   rules, reason codes and tunables in docs/policies.md.
package mcp.authz

# Tunables live in opa/data/mcp/authz/data.json. OPA mounts a data file at its
# directory path under the loaded root, hence the leading `data.data`
# (docs/adr/0001-opa-data-path.md).
import data.data.mcp.authz as config

# ---------------------------------------------------------------------------
# Decision
# ---------------------------------------------------------------------------

# Never undefined: if neither branch below applies (a bug), callers still get a deny.
default decision := {
	"allow": false,
	"reason": "no_rule_matched",
	"filtered_parameters": {},
	"obligations": [],
}

decision := {
	"allow": false,
	"reason": deny_reason,
	"filtered_parameters": {},
	"obligations": [],
} if deny_reason

decision := {
	"allow": true,
	"reason": granted_by,
	"filtered_parameters": filtered_parameters,
	"obligations": obligations,
} if {
	not deny_reason
	granted_by
}

# The order in which checks are reported: a deny names the first failed check.
# Later checks may also fail (e.g. an unknown action grants nothing); only the
# first one is meaningful, so checks need not guard against earlier failures.
reason_order := [
	"unknown_action",
	"unknown_role",
	"missing_server",
	"unknown_server",
	"missing_tool",
	"unknown_tool",
	"server_inactive",
	"unknown_sensitivity",
	"action_not_permitted",
	"insufficient_role_for_sensitivity",
	"approval_required",
	"outside_business_hours",
]

deny_reason := [r | some r in reason_order; r in failed][0]

# ---------------------------------------------------------------------------
# Checks, in reason_order
# ---------------------------------------------------------------------------

# An action is known when data grants it to someone; removing it from
# `permissions` disables it.
failed contains "unknown_action" if not permissions

failed contains "unknown_role" if not role

failed contains "missing_server" if {
	input.action in server_actions
	not server
}

failed contains "unknown_server" if {
	server
	not server_known
}

failed contains "missing_tool" if {
	input.action in tool_actions
	not tool
}

failed contains "unknown_tool" if {
	tool
	not tool_known
}

# A registered server without an active status is not invoked (fail closed when
# the status is missing). Catalog actions still work so it can be fixed.
failed contains "server_inactive" if {
	input.action == "tool:invoke"
	server_registered
	not server_active
}

failed contains "unknown_sensitivity" if {
	input.action in server_actions
	not sensitivity
}

failed contains "action_not_permitted" if count(applicable_grants) == 0

failed contains "insufficient_role_for_sensitivity" if {
	count(applicable_grants) > 0
	not granted_by
}

failed contains "approval_required" if {
	input.action == "tool:invoke"
	approval_needed
	not has_approval
}

failed contains "outside_business_hours" if {
	input.action == "tool:invoke"
	sensitivity in config.business_hours.sensitivities
	not exempt_from_business_hours
	not within_business_hours
}

# ---------------------------------------------------------------------------
# Subject, action and resource facts
# ---------------------------------------------------------------------------

# What each action is about. Structural (it follows from what SARK sends), so
# it is fixed here rather than tunable.
tool_actions := {"tool:invoke", "tool:update"}

server_actions := tool_actions | {"server:register", "server:update", "server:delete"}

permissions := config.permissions[input.action]

role := input.subject.role if {
	is_string(input.subject.role)
	input.subject.role in config.roles
}

server := input.resource.server if is_object(input.resource.server)

tool := input.resource.tool if is_object(input.resource.tool)

server_registered if server.registered == true

# Negations below always go through a named rule: OPA hoists a call (`in`
# included) out of `not` and gives undefined when an argument is undefined,
# while regorus gives true (see docs/policies.md).
server_active if server.status in config.active_server_statuses

# Registration describes a server that is not in the catalog yet.
server_known if input.action == "server:register"

server_known if server_registered

server_known if allow_unregistered

tool_registered if tool.registered == true

tool_known if tool_registered

tool_known if allow_unregistered

allow_unregistered if config.allow_unregistered == true

own_team if {
	is_string(server.team)
	is_array(input.subject.teams)
	server.team in input.subject.teams
}

is_owner if {
	is_string(input.subject.id)
	input.subject.id != ""
	input.subject.id == server.owner
}

# ---------------------------------------------------------------------------
# Sensitivity
# ---------------------------------------------------------------------------

sensitivity_rank[level] := i if some i, level in config.sensitivity_levels

# Effective sensitivity: the tool's own level, else its server's. Unregistered
# resources (only reachable with allow_unregistered) get the configured level,
# never one claimed by the caller. A value that is not a known level leaves the
# sensitivity undefined (deny unknown_sensitivity) instead of falling back.
sensitivity := level if {
	level := declared_sensitivity
	sensitivity_rank[level]
}

declared_sensitivity := config.unregistered_sensitivity if {
	tool
	not tool_registered
} else := tool.sensitivity_level if {
	tool.sensitivity_level != null
} else := config.unregistered_sensitivity if {
	not server_registered
	input.action != "server:register"
	server
} else := server.sensitivity_level if {
	server.sensitivity_level != null
}

# ---------------------------------------------------------------------------
# Grants
# ---------------------------------------------------------------------------

# Grants of this action that apply to this subject and resource, in data order.
applicable_grants := [g | some g in permissions; applies(g)]

applies(g) if {
	g.basis == "role"
	role in g.roles
}

applies(g) if {
	g.basis == "team"
	role in g.roles
	own_team
}

applies(g) if {
	g.basis == "owner"
	role in g.roles
	is_owner
}

# A grant without max_sensitivity is not limited by sensitivity.
covers(g) if not g.max_sensitivity

covers(g) if sensitivity_rank[g.max_sensitivity] >= sensitivity_rank[sensitivity]

basis_reason := {
	"role": "allowed_by_role",
	"team": "allowed_for_own_team",
	"owner": "allowed_as_owner",
}

# The first applicable grant that covers the sensitivity names the allow.
granted_by := [basis_reason[g.basis] | some g in applicable_grants; covers(g)][0]

# ---------------------------------------------------------------------------
# Approval and business hours (tool:invoke only)
# ---------------------------------------------------------------------------

exempt_from_business_hours if role in config.business_hours.exempt_roles

approval_needed if sensitivity in config.approval.sensitivities

# The catalog can demand approval for a single tool whatever its sensitivity.
approval_needed if tool.requires_approval == true

has_approval if {
	is_string(input.context.approval_id)
	input.context.approval_id != ""
}

# Hours are [start_hour, end_hour): 09:00:00 is inside, 17:00:00 outside.
# An unreadable context.time is never inside business hours (fail closed).
within_business_hours if {
	hours := config.business_hours
	[hour, _, _] := time.clock([request_time_ns, hours.time_zone])
	hour >= hours.start_hour
	hour < hours.end_hour
	time.weekday([request_time_ns, hours.time_zone]) in hours.weekdays
}

# Only strings OPA (Go, strict RFC 3339) and regorus (chrono, more lenient, and
# raising errors where OPA yields undefined) both parse the same way reach
# time.parse_rfc3339_ns; see docs/policies.md.
request_time_ns := time.parse_rfc3339_ns(input.context.time) if {
	is_string(input.context.time)
	regex.match(rfc3339_pattern, input.context.time)
	valid_calendar_day(input.context.time)
}

rfc3339_pattern := `^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`

# Days are zero-padded two-digit strings, so string order is numeric order.
valid_calendar_day(t) if substring(t, 8, 2) <= days_in_month(substring(t, 0, 4), substring(t, 5, 2))

days_in_month(_, month) := {
	"01": "31", "03": "31", "04": "30", "05": "31", "06": "30",
	"07": "31", "08": "31", "09": "30", "10": "31", "11": "30", "12": "31",
}[month]

days_in_month(year, "02") := "29" if leap_year(year)

days_in_month(year, "02") := "28" if not leap_year(year)

# year is four digits (checked by the pattern), so to_number cannot fail.
leap_year(year) if {
	to_number(year) % 4 == 0
	to_number(year) % 100 != 0
}

leap_year(year) if to_number(year) % 400 == 0

# ---------------------------------------------------------------------------
# Parameter redaction
# ---------------------------------------------------------------------------

default parameters := {}

parameters := input.parameters if is_object(input.parameters)

# Names removed at this sensitivity: the lists of this level and every lower
# one. Empty for exempt roles and when there is no sensitivity to go by.
redacted_names contains lower(name) if {
	not exempt_from_redaction
	some level, names in config.redaction.parameters
	sensitivity_rank[level] <= sensitivity_rank[sensitivity]
	some name in names
	is_string(name)
}

exempt_from_redaction if role in config.redaction.exempt_roles

# Every path (array of keys and indices) whose last key is a redacted name.
# walk visits nested objects and arrays at any depth without recursion.
# Only ASCII keys are compared: lower() differs between OPA and regorus
# outside ASCII (e.g. U+0130), and a non-ASCII key is a different name anyway.
# Nothing to redact (low and medium tools, exempt roles) skips the walk entirely.
matched_paths contains path if {
	count(redacted_names) > 0
	walk(parameters, [path, _])
	count(path) > 0
	key := path[count(path) - 1]
	is_string(key)
	lower(key) in redacted_names
	ascii(key)
}

# Every code point is one UTF-8 byte (hex.encode writes two digits per byte). Cheaper
# than regex.match on regorus, which rebuilds a pattern's automaton on every call.
ascii(s) if count(hex.encode(s)) == 2 * count(s)

# Paths inside an already removed value are not reported separately.
removed_paths contains path if {
	some path in matched_paths
	not inside_matched(path)
}

inside_matched(path) if {
	some outer in matched_paths
	count(outer) < count(path)
	array.slice(path, 0, count(outer)) == outer
}

# json.remove only descends into arrays with string indices, and only
# array-form paths behave the same on OPA and regorus for keys with "/" or "~".
filtered_parameters := parameters if count(removed_paths) == 0

filtered_parameters := json.remove(parameters, [string_segments(p) | some p in removed_paths]) if {
	count(removed_paths) > 0
}

string_segments(path) := [segment_string(s) | some s in path]

segment_string(s) := s if is_string(s)

segment_string(s) := format_int(s, 10) if is_number(s)

# Removed paths as RFC 6901 JSON Pointers, sorted, for the audit trail.
default obligations := []

obligations := [{
	"type": "redacted_parameters",
	"paths": sort([json_pointer(p) | some p in removed_paths]),
}] if count(removed_paths) > 0

json_pointer(path) := concat("/", array.concat([""], [pointer_escape(s) | some s in string_segments(path)]))

pointer_escape(s) := replace(replace(s, "~", "~0"), "/", "~1")
