from ci.backends.kubernetes import names


def test_namespace_maps_underscore_and_keeps_run_id() -> None:
    ns = names.namespace_name("agent_executor", "bc2f10fb")
    assert ns == "tiers-agent-executor-bc2f10fb"
    assert names.is_dns_label(ns)


def test_long_service_is_shortened_never_the_run_id() -> None:
    ns = names.namespace_name("a" * 80 + "_svc", "deadbeef")
    assert len(ns) <= 63
    assert ns.endswith("-deadbeef")
    assert names.is_dns_label(ns)


def test_distinct_inputs_that_map_alike_get_distinct_names() -> None:
    assert names.dns_label("Web.API") != names.dns_label("web-api")
    assert names.is_dns_label(names.dns_label("Web.API"))


def test_dns_label_rules_of_the_api_server() -> None:
    for good in ("a", "a-b", "0abc", "x" * 63):
        assert names.is_dns_label(good), good
    for bad in ("", "-a", "a-", "A", "a_b", "a.b", "x" * 64):
        assert not names.is_dns_label(bad), bad
    for text in ("__x__", "Ünïcode", "...", "-" * 10, "y" * 100):
        assert names.is_dns_label(names.dns_label(text)), text


def test_label_values() -> None:
    assert names.label_value("agent_executor") == "agent_executor"
    for text in ("/home/u/checkout", "-x-", "a" * 70, "sp ace", ""):
        value = names.label_value(text)
        assert names.is_label_value(value), (text, value)
    assert names.is_label_value("")
    assert not names.is_label_value("/path")


def test_checkout_hash_is_a_label_value() -> None:
    value = names.checkout_hash("/some/where/checkout")
    assert names.is_label_value(value) and len(value) == 16
    assert value != names.checkout_hash("/some/where/else")
