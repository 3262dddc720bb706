package dev.quantflow.engine.chat.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** Builds the node tree from the lexed pieces: if/elif/else, for/else, set, set blocks, break/continue, generation. */
final class Parser {
    private final List<Piece> pieces;
    private int pos;

    private Parser(List<Piece> pieces) {
        this.pieces = pieces;
    }

    static List<Node> parse(String source) {
        Parser p = new Parser(TemplateLexer.lex(source));
        List<Node> body = p.block(Set.of());
        if (p.pos < p.pieces.size()) {
            Piece.Statement s = (Piece.Statement) p.pieces.get(p.pos);
            throw new TemplateError("line " + s.line() + ": unexpected {% " + s.source() + " %}");
        }
        return body;
    }

    /** Nodes up to a statement whose keyword is in ends (not consumed), or to the end of the template. */
    private List<Node> block(Set<String> ends) {
        List<Node> out = new ArrayList<>();
        while (pos < pieces.size()) {
            Piece p = pieces.get(pos);
            switch (p) {
                case Piece.Text t -> {
                    out.add(new Node.Text(t.text()));
                    pos++;
                }
                case Piece.Output o -> {
                    out.add(new Node.Output(ExprParser.parse(o.source(), o.line()), o.line()));
                    pos++;
                }
                case Piece.Statement s -> {
                    String keyword = keyword(s);
                    if (ends.contains(keyword)) return out;
                    pos++;
                    out.add(statement(keyword, s));
                }
            }
        }
        if (!ends.isEmpty()) throw new TemplateError("the template ends inside a block: missing one of " + ends);
        return out;
    }

    private static String keyword(Piece.Statement s) {
        String src = s.source();
        int i = 0;
        while (i < src.length() && (Character.isLetterOrDigit(src.charAt(i)) || src.charAt(i) == '_')) i++;
        return src.substring(0, i);
    }

    private Node statement(String keyword, Piece.Statement s) {
        ExprParser p = new ExprParser(ExprLexer.lex(s.source(), s.line()), s.line());
        p.next();
        switch (keyword) {
            case "if" -> {
                List<Node.Branch> branches = new ArrayList<>();
                Expr cond = p.expression();
                p.expectEnd();
                while (true) {
                    List<Node> body = block(Set.of("elif", "else", "endif"));
                    branches.add(new Node.Branch(cond, body));
                    Piece.Statement end = (Piece.Statement) pieces.get(pos++);
                    String k = keyword(end);
                    if (k.equals("elif")) {
                        ExprParser ep = new ExprParser(ExprLexer.lex(end.source(), end.line()), end.line());
                        ep.next();
                        cond = ep.expression();
                        ep.expectEnd();
                    } else if (k.equals("else")) {
                        List<Node> otherwise = block(Set.of("endif"));
                        pos++;
                        return new Node.If(branches, otherwise);
                    } else {
                        return new Node.If(branches, List.of());
                    }
                }
            }
            case "for" -> {
                List<String> targets = new ArrayList<>();
                do {
                    targets.add(p.name());
                } while (p.accept(","));
                p.expect("in");
                Expr iterable = orExpression(p);
                Optional<Expr> filter = p.accept("if") ? Optional.of(p.expression()) : Optional.empty();
                p.expectEnd();
                List<Node> body = block(Set.of("else", "endfor"));
                List<Node> otherwise = List.of();
                if (keyword((Piece.Statement) pieces.get(pos++)).equals("else")) {
                    otherwise = block(Set.of("endfor"));
                    pos++;
                }
                return new Node.For(targets, iterable, filter, body, otherwise, s.line());
            }
            case "set" -> {
                String name = p.name();
                Optional<String> attribute = p.accept(".") ? Optional.of(p.name()) : Optional.empty();
                if (attribute.isEmpty() && p.peek().kind() == Token.Kind.END) {
                    List<Node> body = block(Set.of("endset"));
                    pos++;
                    return new Node.SetBlock(name, body);
                }
                p.expect("=");
                Expr value = p.expression();
                p.expectEnd();
                return new Node.Set(name, attribute, value, s.line());
            }
            case "break" -> {
                return new Node.Break();
            }
            case "continue" -> {
                return new Node.Continue();
            }
            case "generation" -> {
                List<Node> body = block(Set.of("endgeneration"));
                pos++;
                return new Node.Generation(body);
            }
            default -> throw new TemplateError("line " + s.line() + ": unsupported statement {% " + s.source() + " %}");
        }
    }

    /** The iterable of a for loop stops before a trailing `if` filter (which a full expression would take as a conditional). */
    private static Expr orExpression(ExprParser p) {
        int depth = 0;
        List<Token> taken = new ArrayList<>();
        while (p.peek().kind() != Token.Kind.END && !(depth == 0 && p.peek().is("if") && p.peek().kind() == Token.Kind.NAME)) {
            Token t = p.next();
            if (t.is("(") || t.is("[") || t.is("{")) depth++;
            if (t.is(")") || t.is("]") || t.is("}")) depth--;
            taken.add(t);
        }
        taken.add(new Token(Token.Kind.END, "", null));
        ExprParser sub = new ExprParser(taken, 0);
        Expr e = sub.expression();
        sub.expectEnd();
        return e;
    }
}
