"""Pydantic v2 models through datamodel-code-generator, one module per function."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from datamodel_code_generator import InputFileType, LiteralType, PythonVersion, generate
from datamodel_code_generator.enums import DataModelType
from datamodel_code_generator.format import Formatter

from codegen.load import Spec
from codegen.spec_model import FunctionSpec
from codegen.to_jsonschema import aliases, module_schema

TEMPLATES_DIR = Path(__file__).parent / "templates"


def render_models_module(spec: Spec, function: FunctionSpec, header: str) -> str:
    """The models module for one function: request (root), response, dataset rows."""
    schema = json.dumps(module_schema(spec, function), ensure_ascii=False, indent=1)
    with warnings.catch_warnings():
        # The generator announces future default changes; the options below are explicit.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        code = generate(
            schema,
            input_file_type=InputFileType.JsonSchema,
            output_model_type=DataModelType.PydanticV2BaseModel,
            target_python_version=PythonVersion.PY_311,
            custom_file_header=header,
            disable_timestamp=True,
            aliases=aliases(spec),
            allow_population_by_field_name=True,
            enum_field_as_literal=LiteralType.All,
            field_constraints=True,
            use_annotated=True,
            use_standard_collections=True,
            use_union_operator=True,
            use_double_quotes=True,
            use_schema_description=True,
            formatters=[Formatter.BUILTIN],
            # Pinned: otherwise the formatter reads the line length from whatever
            # pyproject.toml it finds, and output would depend on the caller's config.
            builtin_format_line_length=100,
            settings_path=TEMPLATES_DIR,
        )
    if not isinstance(code, str):
        raise TypeError(f"{function.function_id}: expected one module from the model generator")
    return code if code.endswith("\n") else code + "\n"
