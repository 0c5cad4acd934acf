// The string literals of a type alias that exists only as a type (e.g. AuditEventName), read from its source file.
import { readFileSync } from "node:fs";
import ts from "typescript";

/** The members of `type <name> = "a" | "b" | …` in `file`; throws when the alias is missing or not such a union. */
export function stringUnion(file: string, name: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  for (const statement of source.statements) {
    if (!ts.isTypeAliasDeclaration(statement) || statement.name.text !== name) continue;
    const members = ts.isUnionTypeNode(statement.type) ? statement.type.types : [statement.type];
    return members.map((member) => {
      if (ts.isLiteralTypeNode(member) && ts.isStringLiteral(member.literal)) return member.literal.text;
      throw new Error(
        `${file}: ${name} has a member that is not a string literal: ${member.getText(source)}`,
      );
    });
  }
  throw new Error(`${file}: no type alias ${name}`);
}
