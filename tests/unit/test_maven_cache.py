"""A fetched server is stamped; later runs neither call Maven nor download anything."""
import pytest

from personastream_contracts.settings import resolve
from personastream_stack import maven
from personastream_stack.errors import FetchError


def test_second_fetch_uses_cache_without_maven(tmp_path):
    s = resolve(environ={"HOME": str(tmp_path)},
                overrides={"cache_dir": str(tmp_path / "cache"), "maven_command": "/nonexistent/mvn"})
    target = maven.install_dir(s, "kafka")
    target.mkdir(parents=True)
    (target / maven.STAMP).write_text("done")
    assert maven.fetch(s, "kafka", ["dependency:copy-dependencies"]) == target


def test_missing_maven_says_how_to_fix(tmp_path):
    s = resolve(environ={"HOME": str(tmp_path)},
                overrides={"cache_dir": str(tmp_path / "cache"), "maven_command": "/nonexistent/mvn"})
    with pytest.raises(FetchError, match="PERSONASTREAM_MAVEN_COMMAND"):
        maven.fetch(s, "kafka", ["dependency:copy-dependencies"])


def test_install_dir_changes_with_the_pom(tmp_path):
    s = resolve(environ={"HOME": str(tmp_path)})
    assert maven.install_dir(s, "kafka") != maven.install_dir(s, "cassandra")
    assert maven.install_dir(s, "kafka").name.startswith("kafka-")
