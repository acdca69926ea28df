package mcp.authz_test

import data.mcp.authz

# ---------------------------------------------------------------------------
# Fixtures. 2026-11-23 is a Monday; 10:00 UTC is inside the default hours.
# ---------------------------------------------------------------------------

monday_10 := "2026-11-23T10:00:00Z"

saturday_10 := "2026-11-28T10:00:00Z"

# A registered, active server of team "payments", owned by u-7.
server := {
	"id": "s-1",
	"name": "postgres-mcp",
	"registered": true,
	"sensitivity_level": "medium",
	"owner": "u-7",
	"team": "payments",
	"tags": ["db"],
	"status": "active",
}

tool(level) := {
	"name": "run_query",
	"registered": true,
	"sensitivity_level": level,
	"requires_approval": false,
	"annotations": {},
}

subject(role) := {
	"id": "u-42",
	"type": "user",
	"role": role,
	"teams": ["payments"],
	"attributes": {},
	"acting_for": null,
}

# u-42 in team "search", so not the server's team and not its owner.
outsider(role) := object.union(subject(role), {"teams": ["search"]})

context(time, approval) := {
	"time": time,
	"ip": "10.0.0.5",
	"request_id": "req-1",
	"approval_id": approval,
	"gateway": null,
}

invoke(subj, level) := {
	"subject": subj,
	"action": "tool:invoke",
	"resource": {"server": server, "tool": tool(level)},
	"parameters": {"query": "select 1"},
	"context": context(monday_10, "apr-1"),
}

# A non-tool action on the fixture server.
server_action(subj, action) := {
	"subject": subj,
	"action": action,
	"resource": {"server": server, "tool": null},
	"parameters": {},
	"context": context(monday_10, null),
}

# Deep merge: patch values win, nested objects are merged.
patched(base, patch) := object.union(base, patch)

decide(req) := d if {
	d := authz.decision with input as req
}

reason(req) := decide(req).reason

deny_shape(d) if {
	d.allow == false
	d.filtered_parameters == {}
	d.obligations == []
}

# ---------------------------------------------------------------------------
# Invocation: role x sensitivity, outside the subject's team, approval given
# ---------------------------------------------------------------------------

invoke_matrix := {
	"admin": {
		"low": "allowed_by_role",
		"medium": "allowed_by_role",
		"high": "allowed_by_role",
		"critical": "allowed_by_role",
	},
	"security_admin": {
		"low": "allowed_by_role",
		"medium": "allowed_by_role",
		"high": "insufficient_role_for_sensitivity",
		"critical": "insufficient_role_for_sensitivity",
	},
	"team_lead": {
		"low": "allowed_by_role",
		"medium": "allowed_by_role",
		"high": "insufficient_role_for_sensitivity",
		"critical": "insufficient_role_for_sensitivity",
	},
	"developer": {
		"low": "allowed_by_role",
		"medium": "allowed_by_role",
		"high": "insufficient_role_for_sensitivity",
		"critical": "insufficient_role_for_sensitivity",
	},
	"service": {
		"low": "allowed_by_role",
		"medium": "allowed_by_role",
		"high": "insufficient_role_for_sensitivity",
		"critical": "insufficient_role_for_sensitivity",
	},
	"viewer": {
		"low": "action_not_permitted",
		"medium": "action_not_permitted",
		"high": "action_not_permitted",
		"critical": "action_not_permitted",
	},
}

test_invoke_matrix_outside_team if {
	every role, row in invoke_matrix {
		every level, want in row {
			d := decide(invoke(outsider(role), level))
			d.reason == want
			d.allow == startswith(want, "allowed_")
		}
	}
}

test_matrix_covers_every_role if {
	{r | some r, _ in invoke_matrix} == {r | some r in data.data.mcp.authz.roles}
}

test_team_lead_own_team_up_to_critical if {
	reason(invoke(subject("team_lead"), "medium")) == "allowed_by_role"
	reason(invoke(subject("team_lead"), "high")) == "allowed_for_own_team"
	reason(invoke(subject("team_lead"), "critical")) == "allowed_for_own_team"
}

test_team_lead_without_teams_is_like_developer if {
	reason(invoke(object.union(subject("team_lead"), {"teams": []}), "high")) == "insufficient_role_for_sensitivity"
	reason(invoke(object.remove(subject("team_lead"), ["teams"]), "high")) == "insufficient_role_for_sensitivity"
	no_team := patched(invoke(subject("team_lead"), "high"), {"resource": {"server": {"team": null}}})
	reason(no_team) == "insufficient_role_for_sensitivity"
}

test_developer_in_team_gets_no_team_grant if {
	reason(invoke(subject("developer"), "high")) == "insufficient_role_for_sensitivity"
}

test_agent_is_treated_like_its_role if {
	agent := object.union(outsider("developer"), {"type": "agent", "acting_for": "u-1"})
	reason(invoke(agent, "medium")) == "allowed_by_role"
	reason(invoke(agent, "high")) == "insufficient_role_for_sensitivity"
}

# ---------------------------------------------------------------------------
# Owner
# ---------------------------------------------------------------------------

owner(role) := object.union(outsider(role), {"id": "u-7"})

test_owner_invokes_up_to_high if {
	reason(invoke(owner("developer"), "high")) == "allowed_as_owner"
	reason(invoke(owner("service"), "high")) == "allowed_as_owner"
	reason(invoke(owner("developer"), "critical")) == "insufficient_role_for_sensitivity"
}

test_role_grant_named_before_owner if {
	reason(invoke(owner("developer"), "low")) == "allowed_by_role"
}

test_viewer_owner_still_cannot_invoke if {
	reason(invoke(owner("viewer"), "low")) == "action_not_permitted"
}

test_empty_or_missing_ids_are_not_owners if {
	no_owner := {"resource": {"server": {"owner": ""}}, "subject": {"id": ""}}
	reason(patched(invoke(outsider("developer"), "high"), no_owner)) == "insufficient_role_for_sensitivity"
	null_ids := {"resource": {"server": {"owner": null}}, "subject": {"id": null}}
	reason(patched(invoke(outsider("developer"), "high"), null_ids)) == "insufficient_role_for_sensitivity"
}

# ---------------------------------------------------------------------------
# Approval
# ---------------------------------------------------------------------------

without_approval(req, approval) := patched(req, {"context": {"approval_id": approval}})

test_critical_needs_approval_even_for_admin if {
	reason(without_approval(invoke(subject("admin"), "critical"), null)) == "approval_required"
	reason(without_approval(invoke(subject("admin"), "critical"), "")) == "approval_required"
	reason(without_approval(invoke(subject("admin"), "critical"), 42)) == "approval_required"
	reason(without_approval(invoke(subject("team_lead"), "critical"), null)) == "approval_required"
	reason(invoke(subject("admin"), "critical")) == "allowed_by_role"
}

test_high_needs_no_approval if {
	reason(without_approval(invoke(subject("admin"), "high"), null)) == "allowed_by_role"
}

test_tool_flag_requires_approval if {
	flagged := patched(invoke(outsider("developer"), "low"), {"resource": {"tool": {"requires_approval": true}}})
	reason(flagged) == "allowed_by_role"
	reason(without_approval(flagged, null)) == "approval_required"
}

test_role_is_checked_before_approval if {
	reason(without_approval(invoke(outsider("developer"), "critical"), null)) == "insufficient_role_for_sensitivity"
}

test_approval_sensitivities_are_tunable if {
	req := without_approval(invoke(subject("admin"), "high"), null)
	reason(req) == "approval_required" with data.data.mcp.authz.approval.sensitivities as ["high", "critical"]
}

# ---------------------------------------------------------------------------
# Business hours (default: Monday-Friday, [09:00, 17:00) UTC)
# ---------------------------------------------------------------------------

# team_lead on own team: allowed for high if inside business hours.
at(time) := patched(invoke(subject("team_lead"), "high"), {"context": {"time": time}})

test_business_hours_edges if {
	reason(at("2026-11-23T09:00:00Z")) == "allowed_for_own_team"
	reason(at("2026-11-23T08:59:59Z")) == "outside_business_hours"
	reason(at("2026-11-23T16:59:59Z")) == "allowed_for_own_team"
	reason(at("2026-11-23T17:00:00Z")) == "outside_business_hours"
	reason(at("2026-11-27T16:00:00Z")) == "allowed_for_own_team"
}

test_weekend_is_outside if {
	reason(at(saturday_10)) == "outside_business_hours"
	reason(at("2026-11-29T10:00:00Z")) == "outside_business_hours"
}

test_offsets_in_context_time_are_honoured if {
	# 10:00+02:00 is 08:00 UTC.
	reason(at("2026-11-23T10:00:00+02:00")) == "outside_business_hours"
	reason(at("2026-11-23T10:00:00-02:00")) == "allowed_for_own_team"
	reason(at("2026-11-23T10:00:00.123456789Z")) == "allowed_for_own_team"
}

test_time_zone_shifts_hour if {
	# 00:30 UTC on Monday is 09:30 in Tokyo.
	reason(at("2026-11-23T00:30:00Z")) == "outside_business_hours"
	reason(at("2026-11-23T00:30:00Z")) == "allowed_for_own_team" with data.data.mcp.authz.business_hours.time_zone as "Asia/Tokyo"

	# 14:30 UTC is 09:30 in New York, 13:30 UTC is 08:30 (EST, UTC-5).
	reason(at("2026-11-23T14:30:00Z")) == "allowed_for_own_team" with data.data.mcp.authz.business_hours.time_zone as "America/New_York"
	reason(at("2026-11-23T13:30:00Z")) == "outside_business_hours" with data.data.mcp.authz.business_hours.time_zone as "America/New_York"
}

test_time_zone_shifts_weekday if {
	# Sunday 23:30 UTC is Monday 08:30 in Tokyo.
	sunday_late := at("2026-11-22T23:30:00Z")
	reason(sunday_late) == "outside_business_hours" with data.data.mcp.authz.business_hours.start_hour as 8
	reason(sunday_late) == "allowed_for_own_team" with data.data.mcp.authz.business_hours as object.union(
		data.data.mcp.authz.business_hours,
		{"time_zone": "Asia/Tokyo", "start_hour": 8},
	)
}

test_default_time_zone_is_valid if {
	time.clock([time.parse_rfc3339_ns(monday_10), data.data.mcp.authz.business_hours.time_zone])
}

test_admin_is_exempt if {
	req := patched(invoke(subject("admin"), "critical"), {"context": {"time": saturday_10}})
	reason(req) == "allowed_by_role"
}

test_low_and_medium_ignore_hours if {
	req := patched(invoke(outsider("developer"), "medium"), {"context": {"time": saturday_10}})
	reason(req) == "allowed_by_role"
}

test_approval_is_checked_before_hours if {
	req := patched(invoke(subject("team_lead"), "critical"), {"context": {"time": saturday_10, "approval_id": null}})
	reason(req) == "approval_required"
	reason(without_approval(req, "apr-1")) == "outside_business_hours"
}

test_unreadable_time_is_outside if {
	reason(at("garbage")) == "outside_business_hours"
	reason(at("2026-11-23 10:00:00Z")) == "outside_business_hours"
	reason(at("2026-11-23t10:00:00z")) == "outside_business_hours"
	reason(at("2026-11-23T24:00:00Z")) == "outside_business_hours"
	reason(at("2026-11-23T10:00:60Z")) == "outside_business_hours"
	reason(at("2026-11-23T10:00:00+24:00")) == "outside_business_hours"
	reason(at("2026-11-23T10:00:00")) == "outside_business_hours"
	reason(at("1850-11-25T10:00:00Z")) == "outside_business_hours"
	reason(at(1795428000)) == "outside_business_hours"
	reason(at(null)) == "outside_business_hours"
	reason(object.remove(at(monday_10), ["context"])) == "outside_business_hours"
}

test_calendar_days_are_validated if {
	reason(at("2026-02-29T10:00:00Z")) == "outside_business_hours"
	reason(at("2026-04-31T10:00:00Z")) == "outside_business_hours"
	reason(at("2100-02-29T10:00:00Z")) == "outside_business_hours"

	# Leap days (Tuesdays) are fine.
	reason(at("2028-02-29T10:00:00Z")) == "allowed_for_own_team"
	reason(at("2000-02-29T10:00:00Z")) == "allowed_for_own_team"
	reason(at("2026-02-28T10:00:00Z")) == "outside_business_hours"
	reason(at("2026-01-31T10:00:00Z")) == "outside_business_hours"
	reason(at("2026-03-31T10:00:00Z")) == "allowed_for_own_team"
}

test_business_hours_are_tunable if {
	reason(at(saturday_10)) == "allowed_for_own_team" with data.data.mcp.authz.business_hours.weekdays as ["Saturday"]
	reason(at("2026-11-23T08:00:00Z")) == "allowed_for_own_team" with data.data.mcp.authz.business_hours.start_hour as 8
	reason(at("2026-11-23T17:30:00Z")) == "allowed_for_own_team" with data.data.mcp.authz.business_hours.end_hour as 18
	reason(at(saturday_10)) == "allowed_for_own_team" with data.data.mcp.authz.business_hours.sensitivities as ["critical"]
	reason(at(saturday_10)) == "allowed_for_own_team" with data.data.mcp.authz.business_hours.exempt_roles as ["team_lead"]
}

# ---------------------------------------------------------------------------
# Unknown and missing resources, server status, sensitivity
# ---------------------------------------------------------------------------

unregistered_tool := {"name": "ghost_tool", "registered": false}

# Replace (not merge) a resource, so keys removed from it stay removed.
with_tool(req, t) := with_resource(req, {"server": req.resource.server, "tool": t})

with_server(req, s) := with_resource(req, {"server": s, "tool": req.resource.tool})

with_resource(req, resource) := object.union(object.remove(req, ["resource"]), {"resource": resource})

test_unknown_server_is_denied if {
	req := with_server(invoke(subject("admin"), "low"), {"name": "ghost-mcp", "registered": false})
	d := decide(req)
	d.reason == "unknown_server"
	deny_shape(d)
	reason(with_server(req, {"name": "ghost-mcp"})) == "unknown_server"
}

test_unknown_tool_is_denied if {
	req := with_tool(invoke(subject("admin"), "low"), unregistered_tool)
	reason(req) == "unknown_tool"
}

test_unknown_server_named_before_unknown_tool if {
	req := with_server(with_tool(invoke(subject("admin"), "low"), unregistered_tool), {"name": "x", "registered": false})
	reason(req) == "unknown_server"
}

test_allow_unregistered_uses_configured_sensitivity if {
	# The caller's claimed "low" is ignored: unregistered means "high" by default.
	req := with_server(with_tool(invoke(outsider("developer"), "low"), {"name": "t", "registered": false, "sensitivity_level": "low"}), {"name": "x", "registered": false})
	reason(req) == "insufficient_role_for_sensitivity" with data.data.mcp.authz.allow_unregistered as true
	reason(req) == "allowed_by_role" with data.data.mcp.authz.allow_unregistered as true
		with data.data.mcp.authz.unregistered_sensitivity as "medium"

	admin_in := object.union(req, {"subject": subject("admin")})
	reason(admin_in) == "allowed_by_role" with data.data.mcp.authz.allow_unregistered as true
}

test_allow_unregistered_tool_on_registered_server if {
	req := with_tool(invoke(outsider("developer"), "low"), unregistered_tool)
	reason(req) == "insufficient_role_for_sensitivity" with data.data.mcp.authz.allow_unregistered as true
	reason(req) == "allowed_by_role" with data.data.mcp.authz.allow_unregistered as true
		with data.data.mcp.authz.unregistered_sensitivity as "low"
}

test_allow_unregistered_server_is_not_checked_for_status if {
	req := with_server(invoke(subject("admin"), "low"), {"name": "x", "registered": false})
	reason(req) == "allowed_by_role" with data.data.mcp.authz.allow_unregistered as true
}

test_allow_unregistered_server_gets_configured_level if {
	# A registered tool without its own level on an unregistered server.
	req := with_server(invoke(outsider("developer"), null), {"name": "x", "registered": false})
	reason(req) == "insufficient_role_for_sensitivity" with data.data.mcp.authz.allow_unregistered as true
	read := with_server(server_action(subject("viewer"), "server:read"), {"name": "x", "registered": false})
	reason(read) == "allowed_by_role" with data.data.mcp.authz.allow_unregistered as true
}

test_allow_unregistered_must_be_true if {
	req := with_tool(invoke(subject("admin"), "low"), unregistered_tool)
	reason(req) == "unknown_tool" with data.data.mcp.authz.allow_unregistered as "yes"
}

test_missing_server_and_tool if {
	reason(with_server(invoke(subject("admin"), "low"), null)) == "missing_server"
	reason(object.remove(invoke(subject("admin"), "low"), ["resource"])) == "missing_server"
	reason(with_tool(invoke(subject("admin"), "low"), null)) == "missing_tool"
	reason(with_tool(invoke(subject("admin"), "low"), "run_query")) == "missing_tool"
	reason(server_action(subject("admin"), "tool:update")) == "missing_tool"
	reason(with_server(server_action(subject("admin"), "server:delete"), null)) == "missing_server"
}

test_inactive_server_is_not_invoked if {
	inactive := with_server(invoke(subject("admin"), "low"), object.union(server, {"status": "inactive"}))
	reason(inactive) == "server_inactive"
	reason(with_server(invoke(subject("admin"), "low"), object.remove(server, ["status"]))) == "server_inactive"
}

test_active_statuses_are_tunable if {
	inactive := with_server(invoke(subject("admin"), "low"), object.union(server, {"status": "inactive"}))
	reason(inactive) == "allowed_by_role" with data.data.mcp.authz.active_server_statuses as ["active", "inactive"]
}

test_inactive_server_can_still_be_managed if {
	s := object.union(server, {"status": "inactive"})
	reason(with_server(server_action(subject("admin"), "server:update"), s)) == "allowed_by_role"
	reason(with_server(server_action(subject("viewer"), "server:read"), s)) == "allowed_by_role"
}

test_tool_sensitivity_falls_back_to_server if {
	missing := with_tool(invoke(outsider("developer"), "low"), object.remove(tool("low"), ["sensitivity_level"]))
	reason(missing) == "allowed_by_role"
	reason(with_server(missing, object.union(server, {"sensitivity_level": "high"}))) == "insufficient_role_for_sensitivity"
	reason(invoke(outsider("developer"), null)) == "allowed_by_role"
}

test_unknown_sensitivity_is_denied if {
	reason(invoke(subject("admin"), "extreme")) == "unknown_sensitivity"
	reason(invoke(subject("admin"), "HIGH")) == "unknown_sensitivity"
	no_levels := with_server(invoke(subject("admin"), null), object.remove(server, ["sensitivity_level"]))
	reason(no_levels) == "unknown_sensitivity"
	reason(with_server(server_action(subject("admin"), "server:update"), object.remove(server, ["sensitivity_level"]))) == "unknown_sensitivity"
}

# ---------------------------------------------------------------------------
# Action and role validation, deny order
# ---------------------------------------------------------------------------

test_unknown_action if {
	d := decide(server_action(subject("admin"), "server:explode"))
	d.reason == "unknown_action"
	deny_shape(d)
	reason(server_action(subject("admin"), 42)) == "unknown_action"
	reason(object.remove(server_action(subject("admin"), "x"), ["action"])) == "unknown_action"
}

test_actions_can_be_disabled_in_data if {
	reason(server_action(subject("admin"), "audit:read")) == "unknown_action" with data.data.mcp.authz.permissions as {}
}

test_unknown_role if {
	reason(invoke(subject("superuser"), "low")) == "unknown_role"
	reason(invoke(subject(null), "low")) == "unknown_role"
	reason(invoke(subject(["admin"]), "low")) == "unknown_role"
	reason(object.remove(invoke(subject("admin"), "low"), ["subject"])) == "unknown_role"
}

test_roles_are_tunable if {
	reason(invoke(subject("superuser"), "low")) == "action_not_permitted" with data.data.mcp.authz.roles as ["superuser"]
}

test_deny_order_first_failure_wins if {
	everything_wrong := {
		"subject": subject("superuser"),
		"action": "server:explode",
		"resource": {"server": {"name": "x", "registered": false}, "tool": unregistered_tool},
		"parameters": {},
		"context": context(saturday_10, null),
	}
	reason(everything_wrong) == "unknown_action"
	step2 := object.union(everything_wrong, {"action": "tool:invoke"})
	reason(step2) == "unknown_role"
	step3 := object.union(step2, {"subject": subject("viewer")})
	reason(step3) == "unknown_server"
	step4 := with_server(step3, server)
	reason(step4) == "unknown_tool"
	step5 := with_server(with_tool(step4, tool("critical")), object.union(server, {"status": "inactive"}))
	reason(step5) == "server_inactive"
	step6 := with_tool(with_server(step5, server), tool("bogus"))
	reason(step6) == "unknown_sensitivity"
	step7 := with_tool(step6, tool("critical"))
	reason(step7) == "action_not_permitted"
	step8 := object.union(step7, {"subject": outsider("developer")})
	reason(step8) == "insufficient_role_for_sensitivity"
	step9 := object.union(step8, {"subject": subject("team_lead")})
	reason(step9) == "approval_required"
	step10 := without_approval(step9, "apr-1")
	reason(step10) == "outside_business_hours"
	step11 := patched(step10, {"context": {"time": monday_10}})
	reason(step11) == "allowed_for_own_team"
}

test_decision_is_total_on_empty_input if {
	d := decide({})
	d.reason == "unknown_action"
	deny_shape(d)
}

test_default_decision_denies if {
	# Unreachable with this policy; shows what callers get if it ever happened.
	req := invoke(outsider("viewer"), "low")
	d := authz.decision with input as req with authz.reason_order as []
	d.reason == "no_rule_matched"
	deny_shape(d)
}

# ---------------------------------------------------------------------------
# Catalog, registration, management and audit actions
# ---------------------------------------------------------------------------

test_everyone_reads_catalog if {
	every role in data.data.mcp.authz.roles {
		reason(server_action(outsider(role), "server:read")) == "allowed_by_role"
	}
}

test_catalog_listing_needs_no_server if {
	req := object.union(server_action(subject("viewer"), "server:read"), {"resource": {"server": null}})
	reason(req) == "allowed_by_role"
	reason(object.remove(req, ["resource"])) == "allowed_by_role"
}

test_reading_unknown_server_is_denied if {
	req := with_server(server_action(subject("viewer"), "server:read"), {"name": "x", "registered": false})
	reason(req) == "unknown_server"
}

test_audit_read if {
	reason(server_action(subject("admin"), "audit:read")) == "allowed_by_role"
	reason(server_action(subject("security_admin"), "audit:read")) == "allowed_by_role"
	reason(server_action(subject("team_lead"), "audit:read")) == "action_not_permitted"
	reason(server_action(subject("developer"), "audit:read")) == "action_not_permitted"
	reason(server_action(subject("viewer"), "audit:read")) == "action_not_permitted"
	reason(server_action(subject("service"), "audit:read")) == "action_not_permitted"
	no_resource := object.remove(server_action(subject("security_admin"), "audit:read"), ["resource"])
	reason(no_resource) == "allowed_by_role"
}

# A proposed server: not in the catalog yet, so `registered` is false.
register(subj, level) := with_server(
	server_action(subj, "server:register"),
	object.union(server, {"registered": false, "sensitivity_level": level, "status": null}),
)

test_register_by_admin if {
	every level in ["low", "medium", "high", "critical"] {
		reason(register(outsider("admin"), level)) == "allowed_by_role"
	}
}

test_register_by_team_lead if {
	reason(register(subject("team_lead"), "critical")) == "allowed_for_own_team"
	reason(register(subject("team_lead"), "low")) == "allowed_for_own_team"
	reason(register(outsider("team_lead"), "medium")) == "allowed_by_role"
	reason(register(outsider("team_lead"), "high")) == "insufficient_role_for_sensitivity"
}

test_register_by_developer if {
	reason(register(subject("developer"), "low")) == "allowed_by_role"
	reason(register(subject("developer"), "medium")) == "allowed_by_role"
	reason(register(subject("developer"), "high")) == "insufficient_role_for_sensitivity"
	reason(register(subject("developer"), "critical")) == "insufficient_role_for_sensitivity"
}

test_register_denied_for_other_roles if {
	reason(register(subject("security_admin"), "low")) == "action_not_permitted"
	reason(register(subject("service"), "low")) == "action_not_permitted"
	reason(register(subject("viewer"), "low")) == "action_not_permitted"
}

test_register_needs_a_server_with_a_level if {
	reason(with_server(register(subject("admin"), "low"), null)) == "missing_server"
	reason(register(subject("admin"), null)) == "unknown_sensitivity"
	reason(register(subject("admin"), "urgent")) == "unknown_sensitivity"
}

manage_actions := ["server:update", "server:delete", "tool:update"]

manage(subj, action) := with_tool(server_action(subj, action), tool("high"))

test_manage_by_admin_owner_and_team_lead if {
	every action in manage_actions {
		reason(manage(outsider("admin"), action)) == "allowed_by_role"
		reason(manage(subject("team_lead"), action)) == "allowed_for_own_team"
		reason(manage(owner("developer"), action)) == "allowed_as_owner"
		reason(manage(owner("service"), action)) == "allowed_as_owner"
	}
}

test_manage_denied_for_others if {
	every action in manage_actions {
		reason(manage(outsider("team_lead"), action)) == "action_not_permitted"
		reason(manage(subject("developer"), action)) == "action_not_permitted"
		reason(manage(subject("security_admin"), action)) == "action_not_permitted"
		reason(manage(owner("viewer"), action)) == "action_not_permitted"
	}
}

test_manage_critical_needs_no_approval_or_hours if {
	req := patched(with_tool(server_action(subject("team_lead"), "tool:update"), tool("critical")), {"context": {"time": saturday_10}})
	reason(req) == "allowed_for_own_team"
}

test_permissions_are_tunable if {
	req := invoke(outsider("developer"), "high")
	grants := array.concat(data.data.mcp.authz.permissions["tool:invoke"], [{"basis": "role", "roles": ["developer"], "max_sensitivity": "high"}])
	reason(req) == "allowed_by_role" with data.data.mcp.authz.permissions["tool:invoke"] as grants
}

test_unknown_grant_basis_grants_nothing if {
	req := server_action(subject("developer"), "audit:read")
	reason(req) == "action_not_permitted" with data.data.mcp.authz.permissions["audit:read"] as [{"basis": "group", "roles": ["developer"]}]
}

# ---------------------------------------------------------------------------
# Parameter redaction
# ---------------------------------------------------------------------------

with_params(req, params) := object.union(object.remove(req, ["parameters"]), {"parameters": params})

secrets := {
	"query": "select 1",
	"Password": "p",
	"API_KEY": "k",
	"ssn": "123",
	"db": {"host": "h", "secret": "s", "opts": {"Token": "t", "keep": 1}},
	"rows": [{"id": 1, "token": "a"}, {"id": 2}, "plain", [{"credentials": "c", "id": 3}]],
	"credentials": {"token": "nested-in-removed", "user": "u"},
	"a/b": {"x~y": {"private_key": "pk", "n": 1}},
}

test_high_redacts_nested_case_insensitive if {
	d := decide(with_params(invoke(owner("developer"), "high"), secrets))
	d.reason == "allowed_as_owner"
	d.filtered_parameters == {
		"query": "select 1",
		"ssn": "123",
		"db": {"host": "h", "opts": {"keep": 1}},
		"rows": [{"id": 1}, {"id": 2}, "plain", [{"id": 3}]],
		"a/b": {"x~y": {"private_key": "pk", "n": 1}},
	}
	d.obligations == [{"type": "redacted_parameters", "paths": [
		"/API_KEY",
		"/Password",
		"/credentials",
		"/db/opts/Token",
		"/db/secret",
		"/rows/0/token",
		"/rows/3/0/credentials",
	]}]
}

test_critical_also_redacts_personal_data if {
	d := decide(with_params(invoke(subject("team_lead"), "critical"), secrets))
	d.reason == "allowed_for_own_team"
	d.filtered_parameters == {
		"query": "select 1",
		"db": {"host": "h", "opts": {"keep": 1}},
		"rows": [{"id": 1}, {"id": 2}, "plain", [{"id": 3}]],
		"a/b": {"x~y": {"n": 1}},
	}
	"/a~1b/x~0y/private_key" in d.obligations[0].paths
	"/ssn" in d.obligations[0].paths
}

test_admin_is_not_redacted if {
	d := decide(with_params(invoke(subject("admin"), "critical"), secrets))
	d.filtered_parameters == secrets
	d.obligations == []
}

test_low_and_medium_are_not_redacted if {
	every level in ["low", "medium"] {
		d := decide(with_params(invoke(outsider("developer"), level), secrets))
		d.filtered_parameters == secrets
		d.obligations == []
	}
}

test_non_ascii_keys_are_other_names if {
	# U+0130 lower-cases differently on OPA and regorus; such keys never match.
	params := {"APİ_KEY": "x", "pässword": "y", "token": "z"}
	d := decide(with_params(invoke(owner("developer"), "high"), params))
	d.filtered_parameters == {"APİ_KEY": "x", "pässword": "y"}
}

test_ascii_counts_bytes_not_code_points if {
	authz.ascii("api_KEY-1 /~")
	authz.ascii("")
	not authz.ascii("pässword")
	not authz.ascii("APİ_KEY")
	not authz.ascii("token ")
}

test_denied_decision_has_no_parameters if {
	d := decide(with_params(invoke(outsider("developer"), "high"), secrets))
	d.reason == "insufficient_role_for_sensitivity"
	deny_shape(d)
}

test_non_object_parameters_become_empty if {
	d := decide(with_params(invoke(outsider("developer"), "low"), null))
	d.allow
	d.filtered_parameters == {}
	decide(with_params(invoke(outsider("developer"), "low"), ["a"])).filtered_parameters == {}
	decide(object.remove(invoke(outsider("developer"), "low"), ["parameters"])).filtered_parameters == {}
}

test_server_actions_redact_by_server_sensitivity if {
	req := with_params(register(subject("team_lead"), "high"), {"name": "x", "config": {"api_key": "k"}})
	d := decide(req)
	d.filtered_parameters == {"name": "x", "config": {}}
	d.obligations == [{"type": "redacted_parameters", "paths": ["/config/api_key"]}]
}

test_redaction_lists_are_tunable if {
	req := with_params(invoke(outsider("developer"), "medium"), {"query": "q", "Note": "n"})
	d := decide(req) with data.data.mcp.authz.redaction.parameters as {"medium": ["NOTE"]}
	d.filtered_parameters == {"query": "q"}
	d.obligations == [{"type": "redacted_parameters", "paths": ["/Note"]}]
}

test_redaction_exemption_is_tunable if {
	req := with_params(invoke(owner("developer"), "high"), {"password": "p"})
	d := decide(req) with data.data.mcp.authz.redaction.exempt_roles as ["developer"]
	d.filtered_parameters == {"password": "p"}
}
