"""The one Registry class: registering, listing, building and resolving specs, and its errors."""

from __future__ import annotations

import pytest

from onebit import OnebitError, Registry, UnknownNameError
from onebit.quantizers import QUANTIZERS


class Widget:
    def __init__(self, size: int = 1, color: str = "red") -> None:
        self.size = size
        self.color = color


@pytest.fixture
def widgets() -> Registry[Widget]:
    registry: Registry[Widget] = Registry("widget", instance_type=Widget)

    @registry.register()
    def small_widget(color: str = "red") -> Widget:
        return Widget(1, color)

    @registry.register("large_widget")
    def make_large(size: int = 10, color: str = "blue") -> Widget:
        return Widget(size, color)

    @registry.register()
    def sized_widget(size: int) -> Widget:
        return Widget(size)

    return registry


def test_register_uses_function_name_or_given_name(widgets: Registry[Widget]) -> None:
    assert widgets.list() == ["large_widget", "sized_widget", "small_widget"]
    assert "small_widget" in widgets and "make_large" not in widgets
    assert len(widgets) == 3
    assert list(widgets) == ["large_widget", "sized_widget", "small_widget"]


def test_register_returns_the_builder_unchanged() -> None:
    registry: Registry[Widget] = Registry("widget")

    def builder() -> Widget:
        return Widget()

    assert registry.register()(builder) is builder
    assert registry.builder("builder") is builder


def test_register_refuses_duplicates_and_keeps_the_first(widgets: Registry[Widget]) -> None:
    original = widgets.builder("small_widget")
    with pytest.raises(ValueError, match="widget 'small_widget' is already registered"):

        @widgets.register()
        def small_widget() -> Widget:
            return Widget(99)

    with pytest.raises(ValueError, match="already registered"):
        widgets.register("large_widget")(lambda: Widget())
    assert widgets.builder("small_widget") is original
    assert widgets.create("small_widget").size == 1


def test_list_filters_with_shell_wildcards(widgets: Registry[Widget]) -> None:
    assert widgets.list("s*") == ["sized_widget", "small_widget"]
    assert widgets.list("*_widget") == widgets.list()
    assert widgets.list("nothing*") == []
    assert widgets.list("s?zed_widget") == ["sized_widget"]


def test_quantizer_registry_wildcard() -> None:
    assert QUANTIZERS.list("*sign") == [
        "approx_sign",
        "magnitude_aware_sign",
        "ste_sign",
        "stochastic_sign",
        "swish_sign",
    ]
    assert QUANTIZERS.list("ste_*") == ["ste_sign"]
    assert QUANTIZERS.list("*Sign") == []  # case-sensitive


def test_get_builds_from_name_and_config(widgets: Registry[Widget]) -> None:
    widget = widgets.get("large_widget")
    assert isinstance(widget, Widget) and (widget.size, widget.color) == (10, "blue")
    widget = widgets.get({"name": "large_widget", "size": 3})
    assert (widget.size, widget.color) == (3, "blue")
    widget = widgets.get({"name": "large_widget", "size": 3}, color="green")
    assert (widget.size, widget.color) == (3, "green")
    assert widgets.get("small_widget", color="black").color == "black"


def test_get_does_not_mutate_the_config(widgets: Registry[Widget]) -> None:
    config = {"name": "large_widget", "size": 4}
    widgets.get(config)
    assert config == {"name": "large_widget", "size": 4}


def test_get_passes_instances_and_callables_through(widgets: Registry[Widget]) -> None:
    widget = Widget(5)
    assert widgets.get(widget) is widget
    assert widgets.get(widget, size=7) is widget  # build arguments are ignored for instances

    def factory() -> Widget:
        return Widget()

    assert widgets.get(factory) is factory
    assert widgets.get(None) is None


def test_get_without_instance_type_passes_callables_only() -> None:
    registry: Registry[Widget] = Registry("widget")
    assert registry.get(print) is print
    with pytest.raises(OnebitError, match="cannot make a widget from Widget"):
        registry.get(Widget())


def test_get_config_without_name_raises(widgets: Registry[Widget]) -> None:
    with pytest.raises(OnebitError, match="'name' key"):
        widgets.get({})
    with pytest.raises(OnebitError, match=r"'name' key, got \['size'\]"):
        widgets.get({"size": 3})


@pytest.mark.parametrize("spec", [42, 3.5, b"small_widget", ("small_widget",)], ids=repr)
def test_get_of_an_unusable_object_raises(widgets: Registry[Widget], spec: object) -> None:
    with pytest.raises(OnebitError, match=f"cannot make a widget from {type(spec).__name__}"):
        widgets.get(spec)


def test_unknown_name_suggests_the_nearest(widgets: Registry[Widget]) -> None:
    with pytest.raises(UnknownNameError) as info:
        widgets.get("smal_widget")
    error = info.value
    assert isinstance(error, OnebitError) and isinstance(error, KeyError)
    message = str(error)
    assert message.startswith("unknown widget 'smal_widget'")  # not quoted like a KeyError
    assert "did you mean 'small_widget'" in message
    assert "(known: large_widget, sized_widget, small_widget)" in message


def test_unknown_name_far_from_all_names_lists_them_without_a_guess(widgets) -> None:
    with pytest.raises(UnknownNameError) as info:
        widgets.create("zzz")
    assert "did you mean" not in str(info.value)
    assert "known: large_widget, sized_widget, small_widget" in str(info.value)


def test_unknown_quantizer_suggests_ste_sign() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'ste_sign'"):
        QUANTIZERS.get("ste_sing")


def test_create_with_a_bad_keyword_names_the_arguments(widgets: Registry[Widget]) -> None:
    with pytest.raises(OnebitError, match=r"widget 'large_widget'.*weight.*it takes: size, color"):
        widgets.create("large_widget", weight=3)
    with pytest.raises(OnebitError, match=r"it takes: color\)"):
        widgets.get({"name": "small_widget", "size": 2})


def test_create_with_a_missing_argument_names_the_arguments(widgets: Registry[Widget]) -> None:
    with pytest.raises(OnebitError, match=r"widget 'sized_widget'.*size.*it takes: size"):
        widgets.create("sized_widget")
    assert widgets.create("sized_widget", size=6).size == 6


def test_create_of_a_builder_taking_nothing_says_so() -> None:
    registry: Registry[Widget] = Registry("widget")
    registry.register("plain")(lambda: Widget())
    with pytest.raises(OnebitError, match=r"it takes: nothing"):
        registry.create("plain", size=1)


def test_create_passes_any_keyword_to_a_builder_taking_kwargs() -> None:
    registry: Registry[dict] = Registry("table")
    registry.register("table")(lambda **kwargs: dict(kwargs))
    assert registry.create("table", a=1, b=2) == {"a": 1, "b": 2}
